"""AlexNet-style convolutional classifier, sized by configuration."""

from __future__ import annotations

import keras

from models.vision.presets import PRESETS

ALEXNET_FILTERS = (64, 192, 384, 256, 256)
POOL_AFTER = (0, 1, 4)


@keras.saving.register_keras_serializable(package="tfstack")
class AlexNetClassifier(keras.Model):
    """Five conv blocks with batch norm (in place of LRN), overlapping max-pooling
    and a dropout-regularised head, as in Krizhevsky et al. 2012.

    Takes pixel values in 0-255 (rescaled inside the model) and returns softmax
    probabilities, so that every caller feeds the model the same way.

    Args:
        num_classes: int. Number of output classes.
        image_size: tuple of two ints. Input height and width.
        channels: int. 1 for grey, 3 for colour.
        width: float. Multiplier on AlexNet's filter counts (64, 192, 384, 256, 256).
        stem_kernel: int. Kernel size of the first convolution (11 in AlexNet).
        stem_stride: int. Stride of the first convolution (4 in AlexNet).
        head: str. `"dense"` for AlexNet's two fully connected layers, `"global"`
            for global average pooling straight into the classifier.
        dense_units: int. Units of each fully connected layer of a dense head.
        dropout: float. Dropout rate before each dense layer.

    Example:
    >>> model = AlexNetClassifier(num_classes=10, **PRESETS["tiny"])
    >>> model(np.zeros((2, 28, 28, 1))).shape
    (2, 10)
    """

    def __init__(
        self,
        num_classes: int,
        image_size: tuple[int, int] = (224, 224),
        channels: int = 3,
        width: float = 1.0,
        stem_kernel: int = 11,
        stem_stride: int = 4,
        head: str = "dense",
        dense_units: int = 4096,
        dropout: float = 0.5,
        **kwargs,
    ):
        if head not in ("dense", "global"):
            raise ValueError(f"`head` must be 'dense' or 'global'; received head={head!r}")
        image_size = tuple(image_size)
        pixels = keras.Input((*image_size, channels), name="pixels")
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(pixels)
        for index, filters in enumerate(ALEXNET_FILTERS):
            x = _conv_block(
                x, max(8, int(filters * width)),
                kernel=stem_kernel if index == 0 else (5 if index == 1 else 3),
                stride=stem_stride if index == 0 else 1,
                pool=index in POOL_AFTER, name=f"block{index + 1}",
            )
        # (batch, h', w', filters)
        if head == "dense":
            x = keras.layers.Flatten(name="flatten")(x)
            for index in range(2):
                x = keras.layers.Dropout(dropout, name=f"fc{index + 1}_dropout")(x)
                x = keras.layers.Dense(dense_units, activation="relu", name=f"fc{index + 1}")(x)
        else:
            x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        # (batch, features)
        probabilities = keras.layers.Dense(
            num_classes, activation="softmax", name="probabilities"
        )(x)
        # (batch, num_classes)
        super().__init__(inputs=pixels, outputs=probabilities, **kwargs)
        self.num_classes = num_classes
        self.image_size = image_size
        self.channels = channels
        self.width = width
        self.stem_kernel = stem_kernel
        self.stem_stride = stem_stride
        self.head = head
        self.dense_units = dense_units
        self.dropout = dropout

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": self.channels,
            "width": self.width,
            "stem_kernel": self.stem_kernel,
            "stem_stride": self.stem_stride,
            "head": self.head,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config: dict) -> "AlexNetClassifier":
        return cls(**config)

    @classmethod
    def from_preset(cls, preset: str, num_classes: int, **overrides) -> "AlexNetClassifier":
        """Builds the model from a named entry of `PRESETS`, with `overrides` on top."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        return cls(num_classes=num_classes, **{**PRESETS[preset], **overrides})


def _conv_block(x, filters: int, kernel: int, stride: int, pool: bool, name: str):
    """Conv -> batch norm -> ReLU, then 3x3/2 overlapping max-pooling if asked."""
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    if pool:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return x
