#include "client/serve_commands.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/inference_client.h"
#include "client/load_generator.h"
#include "client/model_ref.h"
#include "client/output_format.h"
#include "client/repository_client.h"
#include "core/data/idx_file.h"

namespace pruneserve::client {
namespace {

// Parses `text` into name and version, reporting errors through `ctx`.
bool SplitRef(CliContext& ctx, const std::string& text, std::string* name,
              int64_t* version) {
  auto ref = ParseModelRef(text);
  if (!ctx.Check(ref.status())) return false;
  *name = ref->name;
  *version = ref->version;
  return true;
}

// Input shape of a loaded model with dim 0 set to `batch`; unknown dims are
// an error the user fixes with --shape.
absl::StatusOr<std::vector<int64_t>> ModelInputShape(InferenceClient& client,
                                                     const std::string& name,
                                                     int64_t version,
                                                     int64_t batch) {
  auto meta = client.Metadata(name, version);
  if (!meta.ok()) return meta.status();
  if (meta->inputs_size() != 1 || meta->inputs(0).shape_size() == 0) {
    return absl::FailedPreconditionError(
        "the model's input shape is unknown; pass --shape");
  }
  std::vector<int64_t> shape(meta->inputs(0).shape().begin(),
                             meta->inputs(0).shape().end());
  shape[0] = batch;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::FailedPreconditionError(
          "the model's input shape has free dims; pass --shape");
    }
  }
  return shape;
}

void RegisterServe(CLI::App& app, CliContext& ctx) {
  CLI::App* serve = app.add_subcommand(
      "serve", "Load, unload and list models for inference (KServe v2).");
  serve->require_subcommand(1);

  auto* load = serve->add_subcommand("load", "Load a model version.");
  auto ref = std::make_shared<std::string>();
  auto opts = std::make_shared<LoadOptions>();
  load->add_option("model", *ref, "NAME or NAME:VERSION (default latest)")
      ->required();
  load->add_option("--instances", opts->instances,
                   "Instances (threads) for this model");
  load->add_option("--max-batch-size", opts->max_batch_size,
                   "Largest dynamic batch");
  load->callback([&ctx, ref, opts] {
    std::string name;
    if (!SplitRef(ctx, *ref, &name, &opts->version)) return;
    InferenceClient client(ctx.Channel());
    if (!ctx.Check(client.Load(name, *opts))) return;
    std::printf("loaded %s\n", ref->c_str());
  });

  auto* unload = serve->add_subcommand("unload", "Unload a model (version).");
  auto uref = std::make_shared<std::string>();
  unload->add_option("model", *uref, "NAME or NAME:VERSION")->required();
  unload->callback([&ctx, uref] {
    std::string name;
    int64_t version = 0;
    if (!SplitRef(ctx, *uref, &name, &version)) return;
    InferenceClient client(ctx.Channel());
    if (!ctx.Check(client.Unload(name, version))) return;
    std::printf("unloaded %s\n", uref->c_str());
  });

  auto* ls = serve->add_subcommand("ls", "Repository index with states.");
  ls->callback([&ctx] {
    InferenceClient client(ctx.Channel());
    auto index = client.Index();
    if (!ctx.Check(index.status())) return;
    if (ctx.json) {
      std::printf("%s\n", ToJson(*index).c_str());
      return;
    }
    TextTable table({"NAME", "VERSION", "STATE"});
    for (const auto& m : index->models()) {
      table.AddRow({m.name(), m.version(), m.state()});
    }
    std::printf("%s", table.Render().c_str());
  });
}

struct InferArgs {
  std::string ref;
  std::string images;
  std::string labels;
  int64_t count = 8;
  int64_t batch = 8;
  int top_k = 3;
  double scale = 1.0 / 255.0;
  double mean = 0.0;
  double std = 1.0;
};

void RegisterInfer(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "infer", "Classify images from an IDX file and print the top-k.");
  auto a = std::make_shared<InferArgs>();
  cmd->add_option("model", a->ref, "NAME or NAME:VERSION")->required();
  cmd->add_option("--idx-images", a->images,
                  "IDX image file (.gz ok), e.g. Fashion-MNIST t10k")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--idx-labels", a->labels, "Matching IDX label file");
  cmd->add_option("-n,--count", a->count, "Images to classify")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "Images per request")
      ->capture_default_str();
  cmd->add_option("-k,--top-k", a->top_k, "Classes to print per image")
      ->capture_default_str();
  cmd->add_option("--scale", a->scale, "Pixel scale before normalisation")
      ->capture_default_str();
  cmd->add_option("--mean", a->mean, "Normalisation mean")
      ->capture_default_str();
  cmd->add_option("--std", a->std, "Normalisation std")->capture_default_str();
  cmd->callback([&ctx, a] {
    std::string name;
    int64_t version = 0;
    if (!SplitRef(ctx, a->ref, &name, &version)) return;
    data::IdxOptions idx;
    idx.images_path = a->images;
    idx.labels_path = a->labels;
    idx.limit = a->count;
    if (idx.labels_path.empty()) {
      ctx.Check(absl::InvalidArgumentError("--idx-labels is required"));
      return;
    }
    auto dataset = data::ReadIdxFiles(idx);
    if (!ctx.Check(dataset.status())) return;
    const int64_t n = dataset->count();
    const int64_t per_image = dataset->rows * dataset->cols;
    const uint8_t* pixels = dataset->pixels.data();
    const uint8_t* labels = dataset->labels.data();
    InferenceClient client(ctx.Channel());
    int64_t correct = 0;
    TextTable table({"IMAGE", "LABEL", "TOP-K (class:prob)"});
    for (int64_t start = 0; start < n; start += a->batch) {
      const int64_t b = std::min(a->batch, n - start);
      std::vector<float> values(b * per_image);
      for (int64_t i = 0; i < b * per_image; ++i) {
        values[i] = static_cast<float>(
            (pixels[start * per_image + i] * a->scale - a->mean) / a->std);
      }
      const std::vector<int64_t> shape{b, 1, dataset->rows, dataset->cols};
      auto out = client.Infer(name, version, shape, values);
      if (!ctx.Check(out.status())) return;
      const int64_t classes = out->shape.back();
      for (int64_t r = 0; r < b; ++r) {
        const float* logits = out->values.data() + r * classes;
        float max = *std::max_element(logits, logits + classes);
        std::vector<double> prob(classes);
        double sum = 0;
        for (int64_t c = 0; c < classes; ++c)
          sum += prob[c] = std::exp(logits[c] - max);
        std::vector<int64_t> order(classes);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(),
                  [&](int64_t x, int64_t y) { return prob[x] > prob[y]; });
        std::string top;
        for (int k = 0; k < std::min<int64_t>(a->top_k, classes); ++k) {
          absl::StrAppend(
              &top, k ? " " : "",
              absl::StrFormat("%d:%.3f", order[k], prob[order[k]] / sum));
        }
        if (order[0] == int64_t{labels[start + r]}) ++correct;
        table.AddRow(
            {absl::StrCat(start + r), absl::StrCat(int{labels[start + r]}), top});
      }
    }
    std::printf("%s", table.Render().c_str());
    std::printf("top-1 accuracy: %.2f%% (%lld/%lld)\n", 100.0 * correct / n,
                static_cast<long long>(correct), static_cast<long long>(n));
  });
}

struct BenchArgs {
  std::string ref;
  int concurrency = 1;
  int64_t requests = 0;
  double seconds = 10;
  int64_t batch = 1;
};

void RegisterBench(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "bench", "Load generator: throughput and latency percentiles.");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_option("model", a->ref, "NAME or NAME:VERSION")->required();
  cmd->add_option("-c,--concurrency", a->concurrency, "Client threads")
      ->capture_default_str();
  cmd->add_option("-n,--requests", a->requests,
                  "Total requests (overrides --seconds)");
  cmd->add_option("-t,--seconds", a->seconds, "Duration")
      ->capture_default_str();
  cmd->add_option("-b,--batch", a->batch, "Images per request")
      ->capture_default_str();
  cmd->callback([&ctx, a] {
    std::string name;
    int64_t version = 0;
    if (!SplitRef(ctx, a->ref, &name, &version)) return;
    auto channel = ctx.Channel();
    InferenceClient client(channel);
    auto shape = ModelInputShape(client, name, version, a->batch);
    if (!ctx.Check(shape.status())) return;
    int64_t elements = 1;
    for (int64_t d : *shape) elements *= d;
    std::vector<float> values(elements, 0.5f);
    LoadGeneratorOptions options;
    options.concurrency = a->concurrency;
    options.requests = a->requests;
    if (a->requests == 0) options.duration = absl::Seconds(a->seconds);
    options.batch = a->batch;
    LoadReport report = RunLoad(options, [&] {
      return client.Infer(name, version, *shape, values).status();
    });
    auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
    if (ctx.json) {
      std::printf(
          "{\"model\": \"%s\", \"concurrency\": %d, \"batch\": %lld, "
          "\"ok\": %lld, \"failed\": %lld, \"requests_per_second\": %.2f, "
          "\"images_per_second\": %.2f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
          "\"p99_ms\": %.3f}\n",
          a->ref.c_str(), a->concurrency, static_cast<long long>(a->batch),
          static_cast<long long>(report.ok),
          static_cast<long long>(report.failed), report.requests_per_second(),
          report.images_per_second(a->batch), ms(report.Percentile(0.5)),
          ms(report.Percentile(0.9)), ms(report.Percentile(0.99)));
    } else {
      TextTable table({"MODEL", "CONC", "BATCH", "OK", "FAILED", "REQ/S",
                       "IMG/S", "P50 MS", "P90 MS", "P99 MS"});
      table.AddRow({a->ref, absl::StrCat(a->concurrency),
                    absl::StrCat(a->batch), absl::StrCat(report.ok),
                    absl::StrCat(report.failed),
                    absl::StrFormat("%.1f", report.requests_per_second()),
                    absl::StrFormat("%.1f", report.images_per_second(a->batch)),
                    absl::StrFormat("%.3f", ms(report.Percentile(0.5))),
                    absl::StrFormat("%.3f", ms(report.Percentile(0.9))),
                    absl::StrFormat("%.3f", ms(report.Percentile(0.99)))});
      std::printf("%s", table.Render().c_str());
    }
    if (report.failed > 0) {
      std::fprintf(stderr, "prunectl: %lld request(s) failed, first: %s\n",
                   static_cast<long long>(report.failed),
                   report.first_error.c_str());
      ctx.exit_code = 1;
    }
  });
}

}  // namespace

void RegisterServeCommands(CLI::App& app, CliContext& ctx) {
  RegisterServe(app, ctx);
  RegisterInfer(app, ctx);
  RegisterBench(app, ctx);
}

}  // namespace pruneserve::client
