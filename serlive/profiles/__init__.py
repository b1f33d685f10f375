"""Calibration profiles: a user's few labelled clips turned into a small adjustment of the model."""
