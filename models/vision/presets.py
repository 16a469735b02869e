"""Model presets as plain data (no TensorFlow import, so the command line lists them fast)."""

# Presets as data: the same definition serves 28x28 grey and 224x224 colour.
PRESETS: dict[str, dict] = {
    "fashion_mnist": dict(
        image_size=(28, 28), channels=1, width=0.25, stem_kernel=3, stem_stride=1,
        head="dense", dense_units=256, dropout=0.3,
    ),
    "tiny": dict(
        image_size=(28, 28), channels=1, width=0.125, stem_kernel=3, stem_stride=1,
        head="global", dense_units=64, dropout=0.2,
    ),
    "imagenet": dict(
        image_size=(224, 224), channels=3, width=1.0, stem_kernel=11, stem_stride=4,
        head="dense", dense_units=4096, dropout=0.5,
    ),
}
