"""Shipping a pruned model: TFLite/ONNX export checked against Keras, and the
versioned model zoo."""
