"""The `tfstack` command: gathers each package's sub-commands (train, export, serve,
the client commands) and quiets TensorFlow's start-up logging for all of them."""
