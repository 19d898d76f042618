"""Compute kernels that jaxcourse picks per platform (see `conv.conv2d`)."""
