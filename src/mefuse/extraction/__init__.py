"""The extraction pipeline: from a clip table to the feature store, with the extractors of
:mod:`mefuse.features`.

- :mod:`~mefuse.extraction.job`: :class:`ExtractionJob`, one run's options, checked once;
- :mod:`~mefuse.extraction.specs`: extractors as picklable recipes (:class:`ExtractorSpec`);
- :mod:`~mefuse.extraction.prepare`: frames to face crops, a sequence at a time;
- :mod:`~mefuse.extraction.run`: a run's setup shared by every executor (writers, shard, resume,
  reports) and its :class:`ExtractSummary`;
- :mod:`~mefuse.extraction.local`: the in-process run (:func:`extract_table`);
- :mod:`~mefuse.extraction.parallel`: worker processes for weight-free extractors
  (:func:`extract_parallel`); the Ray run is :mod:`mefuse.scale.ray_extract`;
- :mod:`~mefuse.extraction.importers`: coefficients computed by other tools, into the store.

The submodules are imported where used (reading, cropping and the extractors load OpenCV and
MediaPipe), so ``import mefuse.extraction`` alone stays cheap.
"""
