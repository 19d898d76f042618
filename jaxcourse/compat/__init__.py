"""Compatibility layers that run code written for other frameworks on JAX.

`jaxcourse.compat.v1` runs TensorFlow-1 course code with one changed line:
`import jaxcourse.compat.v1 as tf`.
"""
