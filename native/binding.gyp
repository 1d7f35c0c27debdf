{
  "targets": [
    {
      "target_name": "blas",
      "sources": ["blas.cc", "vmath.cc", "optim.cc", "fused.cc", "bf16.cc"],
      "cflags_cc": ["-O2", "-fopenmp", "-std=c++17"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-lopenblas", "-ldl"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
