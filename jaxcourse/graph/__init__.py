"""Graphs of JAX functions (jaxpr as text, DOT/SVG, TensorBoard GraphDef) and `jaxcourse graph`."""
