"""Views, face detection, landmarks, crops and temporal sampling."""
