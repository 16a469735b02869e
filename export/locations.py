"""Where exports go by default: plain constants, so the `tfstack` command registers
`export` and `label` without loading TF Serving's messages."""

DEFAULT_CONFIG_FILE = "serving/models.config"
DEFAULT_REPOSITORY = "model_repository"
