"""Image headers read in the graph, before any image is decoded: each image's format
and declared size (JPEG, PNG, GIF frame by frame, BMP), so that a request declaring
more pixels than a budget, or a format the model refuses, fails with a message naming
the image, instead of the decoder expanding a few bytes into gigabytes."""

from __future__ import annotations

import tensorflow as tf

# Width x height of the largest image decoded: a 48-megapixel phone photo fits.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
# Pixels of all the images of one request: 64 images of 1024x1024, or two of 48 MP.
DEFAULT_MAX_REQUEST_PIXELS = 100_000_000
# GIF blocks (extensions, frames, runs of data) read per request to size the frames
# the decoder expands: a 2,000-frame animation, or many GIFs of fewer.
MAX_GIF_STEPS = 4096

# What the header says an image is: sized (JPEG to BMP), refused (WebP to a long
# GIF), or unknown, which decode_image refuses with its own message.
_JPEG, _PNG, _GIF, _BMP, _WEBP, _JPEG_XL, _LONG_GIF, _UNKNOWN = range(8)
_NAMES = ("JPEG", "PNG", "GIF", "BMP", "a WebP image; send JPEG, PNG, GIF or BMP",
          "a JPEG XL image; send JPEG, PNG, GIF or BMP",
          f"a GIF with more blocks (frames, extensions) than the {MAX_GIF_STEPS} this "
          "model reads per request", "")
_MAGIC = ((_JPEG, b"\xff\xd8\xff"), (_PNG, b"\x89PNG\r\n\x1a\n"), (_GIF, b"GIF8"),
          (_BMP, b"BM"), (_JPEG_XL, b"\xff\x0a"),
          (_JPEG_XL, b"\x00\x00\x00\x0cJXL \r\n\x87\n"))
_LOOKAHEAD = 1024  # 255-byte GIF sub-blocks a step can jump over


def checked_sizes(image_bytes: tf.Tensor, max_pixels: int,
                  max_total: int) -> tf.Tensor:
    """`image_bytes` (batch,), once every image's header is read and none declares
    more than `max_pixels` pixels or is of a format this model refuses, nor all of them
    more than `max_total`; else an InvalidArgumentError naming the first image or the
    total at fault, before any is decoded."""
    count = tf.shape(image_bytes)[0]
    zero = tf.constant(0, tf.int64)

    def read(i, steps_left, _, total, *__):
        # (index, GIF steps left, refused, pixels of images 0 to i - 1, header of i - 1)
        fmt, width, height, pixels, steps = _header(image_bytes[i], steps_left, max_pixels)
        bad = ((fmt >= _WEBP) & (fmt < _UNKNOWN)) | (pixels > max_pixels)
        total += tf.where(bad, zero, pixels)  # an image refused alone is named alone
        bad |= total > max_total
        return i + 1, steps_left - steps, bad, total, fmt, width, height, pixels

    i, _, bad, total, fmt, width, height, pixels = tf.while_loop(
        lambda i, _, bad, *__: (i < count) & ~bad, read,
        (0, tf.constant(MAX_GIF_STEPS), tf.constant(False), zero, tf.constant(_UNKNOWN),
         zero, zero, zero))

    def refuse() -> tf.Tensor:  # the message is only built for a refused request
        text = tf.strings.as_string
        name = tf.gather(tf.constant(_NAMES), fmt)
        alone = tf.where(fmt >= _WEBP, tf.strings.join(
            ["image ", text(i - 1), " cannot be decoded by this model: it is ", name]),
            tf.strings.join([
                "image ", text(i - 1), " is a ", text(width), "x", text(height), " ", name,
                " (", text(pixels), " pixels to decode), more than the ", str(max_pixels),
                " pixels this model decodes per image (max_image_pixels, set at export)"]))
        together = tf.strings.join([
            "images 0 to ", text(i - 1), " of the ", text(count), " in this request declare ",
            text(total), " pixels to decode in all, more than the ", str(max_total),
            " pixels this model decodes per request (max_request_pixels, set at export); "
            "send fewer or smaller images per request"])
        message = tf.where(total > max_total, together, alone)
        with tf.control_dependencies([tf.debugging.Assert(~bad, [message])]):
            return tf.constant(False)

    with tf.control_dependencies([tf.cond(bad, refuse, lambda: tf.constant(True))]):
        return tf.identity(image_bytes)


def _header(data: tf.Tensor, steps_left: tf.Tensor, max_pixels: int):
    """Format, width, height and pixels to decode of one encoded image, read from
    its header (every frame's, for a GIF), and the GIF steps that took; zeros for a
    format with no size to read."""
    head = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, 32), b"\0" * 32]),
                             0, 32)
    raw = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)  # (32,)
    fmt = tf.constant(_UNKNOWN)
    for code, magic in reversed(_MAGIC):  # the first match wins
        fmt = tf.where(tf.strings.substr(head, 0, len(magic)) == magic, code, fmt)
    webp = (tf.strings.substr(head, 0, 4) == b"RIFF") & (tf.strings.substr(head, 8, 4) == b"WEBP")
    fmt = tf.where(webp, _WEBP, fmt)
    no_steps = tf.constant(0)

    def sized(width: tf.Tensor, height: tf.Tensor, code: int):
        return tf.constant(code), width, height, width * height, no_steps

    def jpeg():
        shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)  # (height, width, channels)
        return sized(shape[1], shape[0], _JPEG)

    def bmp():  # signed 32-bit little-endian; a negative height stores rows top down
        width, height = (_signed32(_uint(raw, i, 4, big_endian=False)) for i in (18, 22))
        return sized(tf.abs(width), tf.abs(height), _BMP)

    branches = {
        _JPEG: jpeg,
        _PNG: lambda: sized(_uint(raw, 16, 4), _uint(raw, 20, 4), _PNG),  # from IHDR
        _GIF: lambda: _gif_size(data, raw, steps_left, max_pixels),
        _BMP: bmp,
    }
    zero = tf.constant(0, tf.int64)
    return tf.switch_case(fmt, [branches.get(code, lambda code=code: sized(zero, zero, code))
                                for code in range(len(_NAMES))])


def _uint(raw: tf.Tensor, offset: int, size: int, big_endian: bool = True) -> tf.Tensor:
    """The unsigned integer in bytes `raw[offset:offset + size]`."""
    shifts = [8 * i for i in (reversed(range(size)) if big_endian else range(size))]
    return tf.add_n([tf.bitwise.left_shift(raw[offset + i], shift)
                     for i, shift in enumerate(shifts)])


def _signed32(value: tf.Tensor) -> tf.Tensor:
    return tf.where(value >= 2**31, value - 2**32, value)


def _gif_size(data: tf.Tensor, head: tf.Tensor, steps_left: tf.Tensor, max_pixels: int):
    """A GIF's canvas and the pixels of all its frames (the decoder expands every
    frame before it keeps the first), walking its blocks for at most `steps_left`
    steps: each reads an extension or image descriptor, or jumps over data."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.join([data, b"\0" * 16]), tf.uint8), tf.int32)
    n = tf.size(raw) - 16
    hops = 256 * tf.range(_LOOKAHEAD)

    def byte(at: tf.Tensor) -> tf.Tensor:
        return tf.gather(raw, tf.clip_by_value(at, 0, n + 15))

    def table(packed: tf.Tensor) -> tf.Tensor:  # bytes of the colour table it announces
        return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(2, packed % 8), 0)

    def step(pos, steps, widest, tallest, area):
        # pos: a block (0x21 extension, 0x2C image, else the end), or -pos: data
        in_data, at = pos < 0, tf.abs(pos)
        kind = byte(at)
        image = ~in_data & (kind == 0x2C)
        fields = byte(at + tf.constant([5, 6, 7, 8, 9]))  # width, height (LE), flags
        width = tf.cast(fields[0] + 256 * fields[1], tf.int64)
        height = tf.cast(fields[2] + 256 * fields[3], tf.int64)
        start = tf.where(in_data, at, tf.where(image, at + 11 + table(fields[4]),
                                               tf.where(kind == 0x21, at + 2, -1)))
        # data: sub-blocks of a size byte and that many bytes, ended by a 0 size
        ahead = tf.clip_by_value(start + hops, 0, n + 15)
        full = (tf.gather(raw, ahead) == 255) & (ahead < n)
        skip = tf.where(tf.reduce_all(full), _LOOKAHEAD,
                        tf.cast(tf.argmin(tf.cast(full, tf.int32)), tf.int32))
        short = start + 256 * skip
        size = byte(short)
        after = short + 1 + size
        next_pos = tf.where(skip == _LOOKAHEAD, -short, tf.where(
            size == 0, after, tf.where(byte(after) == 0, after + 1, -after)))
        return (tf.where(start < 0, n, next_pos), steps + 1,
                tf.where(image, tf.maximum(widest, width), widest),
                tf.where(image, tf.maximum(tallest, height), tallest),
                area + tf.where(image, width * height, 0))

    zero = tf.constant(0, tf.int64)
    pos, steps, widest, tallest, area = tf.while_loop(
        lambda pos, steps, _, __, area: (tf.abs(pos) < n) & (steps < steps_left)
        & (area <= max_pixels),
        step, (13 + table(tf.cast(head[10], tf.int32)), 0, zero, zero, zero))
    width = tf.maximum(_uint(head, 6, 2, big_endian=False), widest)
    height = tf.maximum(_uint(head, 8, 2, big_endian=False), tallest)
    pixels = tf.where(area > 0, tf.maximum(width * height, area), 0)
    unread = (tf.abs(pos) < n) & (area <= max_pixels)
    return tf.where(unread, _LONG_GIF, _GIF), width, height, pixels, steps
