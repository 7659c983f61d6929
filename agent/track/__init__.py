"""Multi-object tracking: a vectorised Kalman filter and a ByteTrack-class tracker."""

from agent.track.bytetrack import ByteTrack
from agent.track.kalman import KalmanBoxFilter

__all__ = ["ByteTrack", "KalmanBoxFilter"]
