"""All runtime settings in one object, read once from the environment (prefix ``FIQA_``).

``HOST`` and ``PORT`` are read without the prefix because the Makefile and container platforms set them so.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

# The stored form of an API key: its SHA-256, 64 hex digits (``fiqa-service hash-key`` prints it).
KeyHash = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]


class Settings(BaseSettings):
    """Every knob of the gateway; defaults suit one 2-core CPU host."""

    model_config = SettingsConfigDict(env_prefix="FIQA_", extra="ignore")

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOST", "FIQA_HOST"))
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "FIQA_PORT"))

    # Models and backend
    models_dir: Path = REPO_ROOT / "models"
    backend: Literal["onnxruntime", "triton"] = "onnxruntime"
    ort_providers: list[str] = ["CPUExecutionProvider"]
    ort_intra_op_threads: int = 2  # the detector's session
    # The quality methods' networks (quality and face-recognition kinds): one thread each
    ort_quality_intra_op_threads: int = 1
    ort_inter_op_threads: int = 1
    # The small networks the component measures read (FaceMesh, the emotion classifier, the selfie segmentation) run
    # side by side on the gateway's CPU workers, one intra-op thread each: at a few ms per face, two threads per
    # session cost more in hand-over than they gain (loadtests/bench_measures, reports/performance.md).
    ort_measure_intra_op_threads: int = 1
    # Idle onnxruntime threads busy-wait for work when spinning is on: a gain on a dedicated machine, a large loss
    # when the cores are shared (with the gateway's own threads or other processes), so it is off by default.
    ort_allow_spinning: bool = False
    # The default is the model the rule of fiqa/evaluate/select.py chose on CelebA validation identities
    # (reports/validation/selection.md); others are chosen per request (options.models), e.g. ``diffiqa``, the
    # analytic scorer at 10 recognition passes per face.
    default_models: list[str] = ["diffiqa_r64"]
    # Inference threads of the embedded backend; with the intra-op threads above, chosen by the stated rule of
    # loadtests/bench_settings.py on this 2-core CPU (a lower p50 at concurrency 1, reports/performance.md §10)
    cpu_workers: int = 3
    # Run each network once at its largest input before reporting ready (see service/warmup.py)
    warmup: bool = True

    # Triton backend (FIQA_BACKEND=triton): server address, protocol, per-call timeout, shared memory
    triton_url: str = "127.0.0.1:8001"
    triton_protocol: Literal["grpc", "http"] = "grpc"
    triton_timeout_s: float = 5.0
    triton_startup_wait_s: float = 30.0
    triton_shm: bool = False  # system shared memory for tensors: only where gateway and Triton share a host

    # Micro-batching of quality-model inputs (rows = crops or perturbed copies of crops)
    max_batch_size: int = 64
    # 0: a batch leaves as soon as the model is free; rows arriving meanwhile form the next batch (no idle wait)
    max_wait_ms: float = 0.0
    max_queue_rows: int = 2048
    retry_after_s: int = 1
    request_timeout_s: float = 30.0

    # Connections (``fiqa-service serve``): a request's headers must arrive within header_timeout_s of its first
    # byte, its body within body_timeout_s (else 408); an idle keep-alive connection closes after
    # keep_alive_timeout_s; beyond max_connections open connections uvicorn answers 503.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_timeout_s: float = 5.0
    max_connections: int = 512

    # Input limits
    max_body_bytes: int = 20 * 1024 * 1024
    max_images: int = 16
    # POST /select: the most frames of one burst (about a second of a 30 fps camera); beyond it 413
    max_select_frames: int = Field(32, ge=1)
    max_pixels: int = 40_000_000
    # Memory per request and per process: the pixels of a request's images together (from their headers, before any
    # decode: beyond it 413), and the decoded pixels held at once over all requests (a frame holds its share from
    # decode until its faces are cropped, ~4 bytes a pixel); beyond max_waiting_decodes frames waiting, 503.
    max_request_pixels: int = 100_000_000
    max_decoded_pixels: int = 200_000_000
    max_waiting_decodes: int = 64
    min_image_side: int = 16

    # Frame decoding (service/decode_scale.py). "reduced": a JPEG is decoded once at the coarsest DCT scale (1/2, 1/4,
    # 1/8) whose long side still fills det_max_side, and the detector, alignment and measure crops all read that
    # frame; it is decoded again finer (full resolution at worst) when a face holds fewer than frame_min_detail frame
    # pixels per pixel of the crops cut from it. "full": the frame at full resolution, the detector reading the
    # reduced copy det_reduced_decode asks for. The choice: loadtests/bench_detector.py (reports/detector.md).
    frame_decode: Literal["full", "reduced"] = "reduced"
    frame_min_detail: float = Field(1.5, ge=1.0)

    # Detection
    det_max_side: int = 640
    # With frame_decode=full, JPEGs >= det_reduced_decode_min_scale x det_max_side are decoded a second time at 1/4 or
    # 1/8 scale (libjpeg DCT scaling) for the detector; landmarks are scaled back and faces aligned from the
    # full-resolution frame.
    # At 1/2 the extra decode costs about what resizing the full frame does (loadtests/bench_models.py).
    det_reduced_decode: bool = True
    det_reduced_decode_min_scale: Literal[2, 4, 8] = 4
    det_threshold: float = 0.5
    det_nms_iou: float = 0.3
    # "full": one CenterFace pass on the frame letterboxed to det_max_side. "fast": a pass at det_fast_side to find
    # faces, then one on a square crop around each face at det_refine_side (0: none) for its box and landmarks, the
    # full pass standing in when no face, a small face or many faces are found (service/detect_fast.py). The
    # default is the one loadtests/bench_detector.py chose by its stated rule (reports/detector.md).
    detector_mode: Literal["full", "fast"] = "fast"
    det_fast_side: int = Field(192, ge=32)
    det_refine_side: int = Field(160, ge=0, multiple_of=32)  # the network's stride
    det_refine_margin: float = Field(1.5, ge=1.2, le=4.0)  # the refinement crop's side / the coarse box's long side
    max_faces: int = 10

    # Decision policy
    threshold: float | None = None  # None: each model's calibrated threshold from its card
    min_face_size: float = 20.0
    single_face: bool = False
    max_out_of_frame: float = 0.35  # above it a face gets the face_out_of_frame reason; it is scored all the same
    # Component measures (service/measures): the policy profile whose per-measure minimum components the decision
    # applies (service/decision.py PROFILES), and overrides of single thresholds, e.g. '{"HeadPoseYaw": 90}'
    # (0 switches a check off). The measures a profile checks are computed for every face.
    profile: Literal["access_control", "enrolment"] = "access_control"
    measure_thresholds: dict[str, Annotated[float, Field(ge=0, le=100)]] = {}

    # Quality maps (return_maps): at most this many scored faces per request get maps, to bound the response
    # (per face and map model, measured on t1.jpg: overlay ~26 KB, png ~4.5 KB, array ~30 KB of JSON).
    max_map_faces: int = 8

    # Access control (README "Security"). With no key configured (neither hashes nor a file) the gateway is open;
    # with any, /score and /v1/models need one (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).
    api_key_hashes: list[KeyHash] = []  # JSON list of SHA-256 hex digests of the accepted keys
    api_keys_file: Path | None = None  # a mounted file: one hash per line, or ``name:hash``; '#' starts a comment
    # Token bucket per API key (per client address where no keys are configured): refill rate and size. Per
    # process: each replica (and each uvicorn worker) limits on its own. 0 requests/s: no limit.
    rate_limit_per_s: float = Field(0.0, ge=0.0)
    rate_limit_burst: int = Field(20, ge=1)
    rate_limit_max_clients: int = Field(10_000, ge=1)  # buckets kept; the least recently used go first
    # /metrics on the main port: off, or behind its own bearer token (Prometheus ``authorization`` in a scrape)
    metrics_endpoint: bool = True
    metrics_key_hash: KeyHash | None = None
    # /docs (Swagger UI, served from a local copy, no CDN), /redoc and /openapi.json: on for development; turn them
    # off in production (FIQA_DOCS=false).
    docs: bool = True
    # The capture page (GET /capture, and / leading to it): try a photo or a live camera against this gateway from a
    # browser; static files of the package, no CDN. Off (FIQA_CAPTURE_PAGE=false): both answer 404.
    capture_page: bool = True

    # Logs: "json" (one object per line, with request ids) or "text"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached so the environment is read once)."""
    return Settings()
