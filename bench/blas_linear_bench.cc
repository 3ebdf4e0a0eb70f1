// Times a LibTorch linear layer (the GEMM behind every classifier and
// im2col-free conv fallback) so the BLAS that Debian's LibTorch resolves at
// run time can be compared: run it once as is (OpenBLAS via the
// libblas.so.3 alternative that scripts/setup.sh installs) and once with
// LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas (the reference BLAS).
// bench/run_blas_linear.sh does both side by side.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  std::printf("%-24s %10s %12s\n", "shape (batch x in x out)", "ms/iter",
              "GFLOP/s");
  for (auto [batch, in, out] :
       {std::tuple<int64_t, int64_t, int64_t>{64, 512, 512},
        {256, 1024, 1024},
        {20, 4096, 4096}}) {
    auto x = torch::randn({batch, in});
    auto w = torch::randn({out, in});
    auto b = torch::randn({out});
    for (int i = 0; i < 3; ++i) torch::linear(x, w, b);  // warm-up
    int iters = 0;
    auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (elapsed < 1.0 || iters < 3) {
      torch::linear(x, w, b);
      ++iters;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              start)
                    .count();
    }
    double ms = 1e3 * elapsed / iters;
    double gflops = 2.0 * batch * in * out / (ms * 1e-3) / 1e9;
    char shape[64];
    std::snprintf(shape, sizeof(shape), "%ldx%ldx%ld", (long)batch, (long)in,
                  (long)out);
    std::printf("%-24s %10.3f %12.2f\n", shape, ms, gflops);
  }
  return 0;
}
