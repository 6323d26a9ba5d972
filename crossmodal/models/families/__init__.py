"""One adapter per network family (built-in, timm, torchvision, your own code). Each module offers

- `backbone(name, in_channels, features, pretrained, num_classes, key) -> FeatureNet`, and
- `segmentation_model(name, in_channels, num_classes, features, pretrained, key, state_keys)`: a network with
  its own head (forward -> logits) and the names of its stages, or None when the family's model needs the
  project's head;
- `fingerprint(name) -> str`: what the network's code depends on beyond its config (keys the teacher cache).

crossmodal.models.networks chooses the adapter; a new family is one more module here and one line there.
"""
