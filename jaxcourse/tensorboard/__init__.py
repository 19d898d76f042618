"""TensorBoard: parameter summaries, images, projector, the summary hook, the server."""
