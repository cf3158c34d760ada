"""The measures benchmark times the measure stages on real faces, the networks a set reads included (no figure is
asserted: a host's load moves it)."""

from __future__ import annotations

from loadtests.bench_measures import per_face_ms, real_faces
from service.align import align
from service.runtime import Runtime


def test_the_benchmark_times_real_faces(data_dir) -> None:
    runtime = Runtime.from_env(warmup=False, ort_intra_op_threads=1)
    faces = real_faces(runtime, data_dir, 3)
    assert len(faces) == 3 and all(face.inter_eye_distance > 10 for _, face in faces)
    crops = [align(rgb, face.landmarks) for rgb, face in faces]
    plain = per_face_ms(runtime, faces, crops, ["Sharpness", "HeadPoseYawFromLandmarks"])
    assert plain > 0 and not runtime.backend.describe("facemesh")["loaded"]
    with_networks = per_face_ms(runtime, faces, crops, ["EyesOpen", "ExpressionNeutrality"])
    # the networks those measures read were run (so loaded) and timed with them
    assert with_networks > 0 and all(runtime.backend.describe(name)["loaded"] for name in ("facemesh", "emotion"))
    runtime.shutdown()
