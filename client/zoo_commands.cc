#include "client/zoo_commands.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/models/model_zoo.h"
#include "core/util/torch_status.h"

namespace pruneserve::client {

void RegisterZooCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* zoo = app.add_subcommand(
      "zoo", "Build models of the built-in zoo as TorchScript files.");
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

  auto* build = zoo->add_subcommand(
      "build", "Write a freshly initialised zoo model to a TorchScript file.");
  auto options = std::make_shared<models::ZooOptions>();
  auto out = std::make_shared<std::string>();
  build->add_option("arch", options->arch, "Architecture (see `zoo list`)")
      ->required();
  build->add_option("-o,--out", *out, "Output .pt file")->required();
  build->add_option("--in-channels", options->in_channels,
                    "Input channels (1 for Fashion-MNIST)")
      ->capture_default_str();
  build->add_option("--num-classes", options->num_classes, "Output classes")
      ->capture_default_str();
  build->add_option("--width", options->width_multiplier, "Width multiplier")
      ->capture_default_str();
  build->add_option("--input-size", options->input_size,
                    "Side of the square input")
      ->capture_default_str();
  build->add_option("--seed", options->seed, "Initialisation seed")
      ->capture_default_str();
  build->callback([&ctx, options, out] {
    auto module = models::BuildZooModel(*options);
    if (!ctx.Check(module.status())) return;
    try {
      module->eval();
      module->save(*out);
    } catch (const std::exception& e) {
      ctx.Check(TorchErrorToStatus(e, "save " + *out,
                                   absl::StatusCode::kInternal));
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
