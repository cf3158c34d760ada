"""service.quality.base.network_input: the card's preprocessing, in both layouts and at another crop size."""

from __future__ import annotations

import numpy as np

from service.quality.base import network_input, resize_crops
from service.registry import Preprocess

CROPS = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)


def test_nhwc_is_the_nchw_tensor_transposed() -> None:
    nchw = network_input(CROPS, Preprocess(channel_order="BGR", mean=127.5, scale=1 / 128))
    nhwc = network_input(CROPS, Preprocess(channel_order="BGR", mean=127.5, scale=1 / 128, layout="NHWC"))
    assert nchw.shape == (2, 3, 112, 112) and nhwc.shape == (2, 112, 112, 3)
    assert nhwc.dtype == np.float32 and nhwc.flags.c_contiguous
    np.testing.assert_array_equal(nhwc, nchw.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(nhwc[0, 5, 7], (CROPS[0, 5, 7, ::-1] - 127.5) / 128, rtol=1e-6)


def test_nhwc_does_not_write_into_float_pixels() -> None:
    pixels = CROPS.astype(np.float32)
    network_input(pixels, Preprocess(mean=100.0, layout="NHWC"))
    np.testing.assert_array_equal(pixels, CROPS)


def test_crops_are_resized_to_the_card_size() -> None:
    big = network_input(CROPS, Preprocess(crop_size=224, layout="NHWC"))
    small = network_input(CROPS, Preprocess(crop_size=64))
    assert big.shape == (2, 224, 224, 3) and small.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(big, resize_crops(CROPS, 224).astype(np.float32))  # bilinear up
    np.testing.assert_array_equal(small, resize_crops(CROPS, 64).transpose(0, 3, 1, 2).astype(np.float32))  # area
    flat = np.full((1, 112, 112, 3), 77, dtype=np.uint8)
    assert np.all(network_input(flat, Preprocess(crop_size=224)) == 77)  # no ringing or border from resizing
    assert resize_crops(CROPS, 112) is CROPS


def test_per_channel_mean_is_in_the_network_channel_order() -> None:
    vgg = (103.939, 116.779, 123.68)  # Keras "caffe" preprocessing: BGR, ImageNet means, no scaling
    for layout in ("NCHW", "NHWC"):
        tensor = network_input(CROPS, Preprocess(channel_order="BGR", mean=vgg, layout=layout))
        pixel = tensor[0, :, 5, 7] if layout == "NCHW" else tensor[0, 5, 7]
        np.testing.assert_allclose(pixel, CROPS[0, 5, 7, ::-1] - np.array(vgg), rtol=1e-6)


def test_grey_is_one_luma_channel_in_either_layout() -> None:
    primaries = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    for channel in range(3):
        primaries[channel, ..., channel] = 255
    expression = Preprocess(crop_size=64, channel_order="GREY", mean=127.5, scale=1 / 127.5, layout="NHWC")
    nhwc = network_input(primaries, expression)
    nchw = network_input(primaries, expression.model_copy(update={"layout": "NCHW"}))
    assert nhwc.shape == (3, 64, 64, 1) and nchw.shape == (3, 1, 64, 64)
    np.testing.assert_array_equal(nhwc, nchw.transpose(0, 2, 3, 1))
    # pure red, green, blue weigh 0.2989, 0.5870, 0.1140 (BT.601), then -1..1
    np.testing.assert_allclose(nhwc[:, 0, 0, 0], np.array([0.2989, 0.5870, 0.1140]) * 2 - 1, atol=1e-5)
    white = network_input(np.full((1, 112, 112, 3), 255, dtype=np.uint8), expression)
    np.testing.assert_allclose(white, 0.9999, atol=1e-4)  # resized from the 112 crop; the weights sum to 0.9999
