"""Business logic shared by routes and workers. Routes call one function here; no SQL in routes."""
