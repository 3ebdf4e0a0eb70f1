#include "client/zoo_commands.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/local_commands.h"
#include "core/data/source_factory.h"
#include "core/models/model_zoo.h"
#include "core/training/trainer.h"
#include "core/util/torch_status.h"

namespace pruneserve::client {
namespace {

// Brief training of a freshly built model, so that the BatchNorm scales and
// the sparsity the refined policy reads mean something.
struct TrainArgs {
  std::string train;
  std::string eval;
  int64_t epochs = 1;
  int64_t train_limit = 0;
  int64_t eval_limit = 0;
  int64_t batch_size = 64;
  double lr = 0.05;
  int threads = 0;
};

absl::Status TrainBriefly(torch::jit::Module& module,
                          const models::ZooOptions& zoo, const TrainArgs& a) {
  const std::vector<int64_t> shape{1, zoo.in_channels, zoo.input_size,
                                   zoo.input_size};
  data::SourceOptions train_options;
  train_options.spec = a.train;
  train_options.limit = a.train_limit;
  train_options.batch_size = a.batch_size;
  train_options.shuffle = true;
  train_options.seed = zoo.seed;
  auto train = data::OpenBatchSource(train_options, shape);
  if (!train.ok()) return train.status();
  std::unique_ptr<data::BatchSource> eval;
  if (!a.eval.empty()) {
    data::SourceOptions eval_options;
    eval_options.spec = a.eval;
    eval_options.limit = a.eval_limit;
    eval_options.batch_size = 256;
    auto opened = data::OpenBatchSource(eval_options, shape);
    if (!opened.ok()) return opened.status();
    eval = *std::move(opened);
  }
  training::TrainerOptions options;
  options.epochs = a.epochs;
  options.sgd.learning_rate = a.lr;
  options.num_threads = a.threads;
  options.seed = zoo.seed;
  options.evaluate_every_epoch = false;
  auto trainer = training::Trainer::Create(&module, options);
  if (!trainer.ok()) return trainer.status();
  auto result = (*trainer)->Train(**train, eval.get());
  if (!result.ok()) return result.status();
  std::printf("trained %lld epoch(s) on %s: loss %.4f, train top-1 %.2f%%",
              static_cast<long long>(result->epochs_completed), a.train.c_str(),
              result->train_loss_history.back(),
              100.0 * result->train_accuracy_history.back());
  if (result->final_eval.has_value()) {
    std::printf(", eval top-1 %.2f%%",
                100.0 * result->final_eval->top1_accuracy);
  }
  std::printf(" (%.0f images/s)\n", result->images_per_second);
  return absl::OkStatus();
}

}  // namespace

void RegisterZooCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* zoo = app.add_subcommand("zoo", kZooCommandHelp);
  zoo->require_subcommand(1);

  auto* list = zoo->add_subcommand("list", "List the zoo's architectures.");
  list->callback([&ctx] {
    auto names = models::ZooModelNames();
    if (ctx.json) {
      std::printf("[\"%s\"]\n", absl::StrJoin(names, "\", \"").c_str());
    } else {
      for (const auto& n : names) std::printf("%s\n", n.c_str());
    }
  });

  auto* build =
      zoo->add_subcommand("build",
                          "Write a zoo model to a TorchScript file, freshly "
                          "initialised or briefly trained (--train).");
  auto options = std::make_shared<models::ZooOptions>();
  auto out = std::make_shared<std::string>();
  build->add_option("arch", options->arch, "Architecture (see `zoo list`)")
      ->required();
  build->add_option("-o,--out", *out, "Output .pt file")->required();
  build
      ->add_option("--in-channels", options->in_channels,
                   "Input channels (1 for Fashion-MNIST)")
      ->capture_default_str();
  build->add_option("--num-classes", options->num_classes, "Output classes")
      ->capture_default_str();
  build->add_option("--width", options->width_multiplier, "Width multiplier")
      ->capture_default_str();
  build
      ->add_option("--input-size", options->input_size,
                   "Side of the square input")
      ->capture_default_str();
  build->add_option("--seed", options->seed, "Initialisation seed")
      ->capture_default_str();
  auto train = std::make_shared<TrainArgs>();
  build->add_option("--train", train->train,
                    "Train briefly on this data set after building, e.g. "
                    "fashion-mnist:/usr/share/datasets/fashion-mnist:train");
  build->add_option("--eval", train->eval,
                    "Report top-1 on this data set after training");
  build->add_option("--epochs", train->epochs, "Training epochs")
      ->capture_default_str();
  build
      ->add_option("--train-limit", train->train_limit,
                   "Use only the first N training images (0 = all)")
      ->capture_default_str();
  build
      ->add_option("--eval-limit", train->eval_limit,
                   "Use only the first N evaluation images (0 = all)")
      ->capture_default_str();
  build->add_option("--batch-size", train->batch_size, "Training batch size")
      ->capture_default_str();
  build
      ->add_option("--lr", train->lr,
                   "SGD learning rate (Nesterov, cosine schedule)")
      ->capture_default_str();
  build
      ->add_option("--threads", train->threads,
                   "LibTorch intra-op threads (0 = leave as is)")
      ->capture_default_str();
  build->callback([&ctx, options, out, train] {
    auto module = models::BuildZooModel(*options);
    if (!ctx.Check(module.status())) return;
    if (!train->train.empty() &&
        !ctx.Check(TrainBriefly(*module, *options, *train))) {
      return;
    }
    try {
      module->eval();
      module->save(*out);
    } catch (const std::exception& e) {
      ctx.Check(
          TorchErrorToStatus(e, "save " + *out, absl::StatusCode::kInternal));
      return;
    }
    int64_t params = 0;
    for (const auto& p : module->parameters()) params += p.numel();
    std::printf("wrote %s (%s, %lld parameters, input [N,%lld,%lld,%lld])\n",
                out->c_str(), options->arch.c_str(),
                static_cast<long long>(params),
                static_cast<long long>(options->in_channels),
                static_cast<long long>(options->input_size),
                static_cast<long long>(options->input_size));
  });
}

}  // namespace pruneserve::client
