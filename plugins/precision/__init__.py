"""Built-in precision strategies, declared here (key, schema, factory) and imported only when a run builds one."""

from framework import PRECISIONS

PRECISIONS.declare("fp32", config="plugins.precision.configs:FP32Config", factory="plugins.precision.fp32:build_fp32")
PRECISIONS.declare("bf16", config="plugins.precision.configs:BF16Config", factory="plugins.precision.bf16:build_bf16")
PRECISIONS.declare("fp8", config="plugins.precision.configs:FP8Config", factory="plugins.precision.fp8:build_fp8")
PRECISIONS.declare(
    "amp_bf16", config="plugins.precision.configs:AmpBF16Config", factory="plugins.precision.amp:build_amp_bf16"
)
PRECISIONS.declare(
    "amp_fp16", config="plugins.precision.configs:AmpFP16Config", factory="plugins.precision.amp:build_amp_fp16"
)
PRECISIONS.declare(
    "fp16_master",
    config="plugins.precision.configs:FP16MasterConfig",
    factory="plugins.precision.master:build_fp16_master",
)
PRECISIONS.declare(
    "fp64_master",
    config="plugins.precision.configs:FP64MasterConfig",
    factory="plugins.precision.master:build_fp64_master",
)
PRECISIONS.declare(
    "auto",
    config="plugins.precision.configs:AutoConfig",
    factory="plugins.precision.auto:build_auto",
    describe_here="plugins.precision.auto:describe_here",  # what auto picks here (imports torch)
)
