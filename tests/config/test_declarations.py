"""The torch-free declarations match what the library builds: distiller options, encodings, architectures."""


def test_every_distiller_uses_its_registered_options():
    from crossmodal.distill import DISTILLERS, OPTIONS

    assert list(DISTILLERS) and set(DISTILLERS) == set(OPTIONS)
    for name, cls in DISTILLERS.items():
        assert cls.Config is OPTIONS[name], name


def test_encoding_and_arch_names_match_what_is_built():
    from crossmodal.config.archs import ARCHS
    from crossmodal.config.encodings import ENCODINGS
    from crossmodal.modalities import ENCODINGS as MODALITY_ENCODINGS
    from crossmodal.models import build_backbone

    assert MODALITY_ENCODINGS is ENCODINGS
    for arch in ARCHS:
        assert build_backbone(arch, 2).out_channels
