"""The measures benchmark times the measure stage on real faces (no figure is asserted: a host's load moves it)."""

from __future__ import annotations

from loadtests.bench_measures import per_face_ms, real_faces
from service.align import align


def test_the_benchmark_times_real_faces(data_dir) -> None:
    faces = real_faces(data_dir, 3)
    assert len(faces) == 3 and all(face.inter_eye_distance > 10 for _, face in faces)
    crops = [align(rgb, face.landmarks) for rgb, face in faces]
    assert per_face_ms(faces, crops, ["Sharpness", "HeadPoseYaw"]) > 0
