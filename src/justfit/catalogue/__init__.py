"""The catalogue: what ships with justfit rather than what justfit is. Packaged data sets
(:mod:`~justfit.catalogue.datasets`, :mod:`~justfit.catalogue.speech_sets`), model presets and the
converters that build them (:mod:`~justfit.catalogue.presets`, :mod:`~justfit.catalogue.mobilenet_v2`,
:mod:`~justfit.catalogue.whisper_ct2`).

A leaf: nothing in justfit imports it by name. Importing it registers its entries in
``data.packaged.PACKAGED`` and ``models.factory.PRESETS``, which import it (by its dotted name) when
first read."""

from justfit.catalogue import datasets, presets, whisper_ct2

__all__ = ["datasets", "presets", "whisper_ct2"]
