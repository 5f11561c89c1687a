"""Evaluation above the backtester: the walk-forward scorecard (`oracle evaluate`), the versioned
settings file and its calibration (`oracle calibrate`) on a Dask cluster."""
