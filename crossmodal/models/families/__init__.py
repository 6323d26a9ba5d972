"""One adapter per network family: built-in, timm, torchvision, your own code.

Each module offers

- `backbone(name, in_channels, features, pretrained, num_classes, key, allow_download=False) -> FeatureNet`, and
- `segmentation_model(name, in_channels, num_classes, features, pretrained, key, state_keys, allow_download=False)`:
  a network with its own head (forward -> logits) and the names of its stages, or None when the family's model
  needs the project's head;
- `fingerprint(name) -> str`: what the network's code depends on beyond its config (keys the teacher cache).

`pretrained` is a path, `cache` or empty, resolved by crossmodal.models.weight_sources (which finds published
weights in the standard caches, and lets the library download them only with `allow_download`).

crossmodal.models.networks chooses the adapter; a new family is one more module here and one line there.
"""
