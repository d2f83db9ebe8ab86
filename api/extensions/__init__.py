"""One module per Flask extension, each with an `init_app(app)` (see `create_app`)."""
