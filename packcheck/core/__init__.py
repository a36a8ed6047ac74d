"""The pure pipeline: arrays and frozen dataclasses in, arrays and frozen dataclasses out.

Nothing here opens a database, starts a process pool, parses a command line,
writes a file or changes process-wide settings; the layers above
(:mod:`packcheck.store`, :mod:`packcheck.apps`, :mod:`packcheck.cli`) do that and
call these functions. ``tests/test_architecture.py`` keeps it so.

One exception, on purpose: OpenCV's k-means (:mod:`~packcheck.core.locate`), its
USAC homography and its FLANN k-d forest (both :mod:`~packcheck.core.keypoints`)
draw from OpenCV's per-thread random generator and take no generator of their
own, so those three calls seed it (``cv2.setRNGSeed(0)``) just before they run; without it a photo's location and
keypoint matches would depend on what the process did before. Importing packcheck
changes nothing.
"""
