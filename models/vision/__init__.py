"""Image classification: an AlexNet-style CNN, image data sources and its trainer."""
