// pruneserve: the PruneServe daemon. Flags become ServerCoreOptions and
// ServerOptions; SIGINT/SIGTERM trigger a graceful shutdown, SIGHUP re-reads
// the tokens file.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/repository/model_repository.h"
#include "core/torchscript/torchscript_validator.h"
#include "core/util/allocator_pages.h"
#include "core/util/openmp_wait_policy.h"
#include "server/server.h"
#include "server/server_core.h"
#include "server/thread_budget.h"
#ifdef PRUNESERVE_HAVE_VART
#include "core/inference/vart/vart_backend_factory.h"
#endif

ABSL_FLAG(std::string, listen, "127.0.0.1:8500",
          "gRPC listen address (host:port; port 0 picks a free one).");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics address; empty disables it.");
ABSL_FLAG(std::string, data_dir, "./var/pruneserve",
          "Directory holding the model database and blobs.");
ABSL_FLAG(int, rpc_threads, 8,
          "Threads that run blocking RPC work (database reads and writes, "
          "upload validation, model loads, job submission, downloads) off "
          "gRPC's callback threads; more such calls wait for a free one. "
          "Waiting calls (queued inference, idle streams) hold no thread.");
ABSL_FLAG(int, default_rpc_deadline_seconds, 120,
          "Server-side deadline of a unary RPC whose client set none; then "
          "it is DEADLINE_EXCEEDED. Streams are bounded by "
          "--upload_idle_timeout_seconds instead; WatchJob ends with its job.");
ABSL_FLAG(int, upload_idle_timeout_seconds, 60,
          "An upload (or download) stream with no message for this long is "
          "closed with DEADLINE_EXCEEDED and an upload's temp file removed.");
ABSL_FLAG(int, max_concurrent_uploads, 64,
          "Uploads open at once; one more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_model_mb, 2048,
          "Largest accepted model, in MiB, both as uploaded and, for "
          "TorchScript archives (zip files), uncompressed.");
ABSL_FLAG(int64_t, max_model_zip_entries, 100000,
          "Most entries (files) in one uploaded TorchScript archive; more is "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, validator_timeout_seconds, 60,
          "Wall-clock limit of validating one uploaded TorchScript archive "
          "(loading it and running the example forward) in its validator "
          "process; the process is killed after it and the upload is "
          "INVALID_ARGUMENT.");
ABSL_FLAG(int, validator_cpu_seconds, 60,
          "CPU-time limit (RLIMIT_CPU) of one validator process.");
ABSL_FLAG(int64_t, validator_memory_mb, 8192,
          "Address-space limit (RLIMIT_AS) of one validator process, in MiB; "
          "LibTorch itself maps about 1 GiB.");
ABSL_FLAG(int, max_concurrent_validations, 2,
          "Upload checks (validator processes, each up to "
          "--validator_memory_mb) running at once; more uploads, and first "
          "loads of versions stored before validation was recorded, wait "
          "for a slot.");
ABSL_FLAG(int, validation_slot_wait_seconds, 120,
          "Longest wait for a validation slot; past it the upload or load is "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, instances, 1,
          "Inference instances (threads, each with its own model session) "
          "per loaded model version; 2 is the paper's two-thread mode.");
ABSL_FLAG(int64_t, max_batch_size, 8,
          "Largest batch the dynamic batcher forms.");
ABSL_FLAG(int64_t, batch_delay_us, 500,
          "How long a request may wait for others to join its batch.");
ABSL_FLAG(std::vector<std::string>, preferred_batch_sizes, {},
          "Batch sizes dispatched as soon as they are reached.");
ABSL_FLAG(int64_t, max_queue_size, 1024,
          "Queued requests per model version before RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_request_inputs, 16,
          "Input tensors one ModelInfer request may carry; more is "
          "INVALID_ARGUMENT.");
ABSL_FLAG(int, max_request_rank, 8,
          "Dimensions of one ModelInfer input; more is INVALID_ARGUMENT.");
ABSL_FLAG(int64_t, max_request_elements, int64_t{1} << 25,
          "Elements of all inputs of one ModelInfer request together, checked "
          "before anything is decoded; more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_request_bytes, int64_t{128} << 20,
          "Bytes of all inputs of one ModelInfer request together, decoded in "
          "their datatypes, checked before anything is decoded; more is "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_load_instances, 16,
          "Largest instances a model load may ask for; more is "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_load_batch_size, 256,
          "Largest max_batch_size a model load may ask for; more is "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, loaded_models_memory_mb, 8192,
          "Memory budget of the versions loaded for inference, in MiB, "
          "estimated per version as parameter bytes times instances; a load "
          "beyond it is RESOURCE_EXHAUSTED. 0: no budget.");
ABSL_FLAG(int, max_loaded_versions, 64,
          "Model versions loaded for inference at once; loading another is "
          "RESOURCE_EXHAUSTED until one is unloaded.");
ABSL_FLAG(int, intra_op_threads, 0,
          "LibTorch intra-op threads of each inference instance thread; 0 = "
          "the serving half of the cores divided among --instances (jobs "
          "get the other half).");
ABSL_FLAG(int, job_workers, 1, "Pruning jobs running at once.");
ABSL_FLAG(int, job_queue_capacity, 16,
          "Jobs waiting for a worker before SubmitJob is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, watch_progress_interval_ms, 200,
          "WatchJob streams get progress inside one phase and epoch at most "
          "this often; phase, epoch and state changes at once.");
ABSL_FLAG(int, job_max_attempts, 3,
          "Times the server may die (crash, kill, out of memory) while one "
          "job runs; at this count the job is FAILED at start instead of "
          "resumed again. Graceful shutdowns do not count.");
ABSL_FLAG(int64_t, job_max_description_bytes, 4096,
          "Longest job description accepted by SubmitJob.");
ABSL_FLAG(int, job_max_exclude_patterns, 64,
          "Most pruning.exclude patterns in one job spec.");
ABSL_FLAG(int64_t, job_max_exclude_pattern_bytes, 256,
          "Longest pruning.exclude pattern (RE2 syntax).");
ABSL_FLAG(int64_t, job_max_input_dim, 4096,
          "Largest dim of a job's input_shape.");
ABSL_FLAG(int64_t, job_max_input_elements, int64_t{1} << 22,
          "Most elements (C*H*W) of one image of a job's input_shape; the "
          "analysis and the FLOPs count run the model at this size.");
ABSL_FLAG(std::vector<std::string>, data_roots, {},
          "Comma-separated directories job specs may name by server path "
          "(e.g. fashion-mnist:/usr/share/datasets/fashion-mnist:train). "
          "Every path is resolved with realpath, symlinks included, and "
          "must stay inside one of them. Empty: no server path is accepted; "
          "clients upload data sets (prunectl dataset upload) and name them "
          "dataset:NAME.");
ABSL_FLAG(int64_t, dataset_max_upload_mb, 4096,
          "Largest data-set archive accepted by UploadDataset, as sent.");
ABSL_FLAG(int64_t, dataset_max_extracted_mb, 8192,
          "Most bytes the files of one uploaded data set may hold once "
          "extracted (and decompressed); checked against each entry's "
          "declared size before it is written.");
ABSL_FLAG(int64_t, dataset_max_entries, 200000,
          "Most entries (files and directories) of one data-set archive.");
ABSL_FLAG(int, job_threads, 0,
          "LibTorch intra-op threads of each job worker thread; 0 = half the "
          "cores (at least 1) divided among --job_workers.");
ABSL_FLAG(std::string, vitis_compile_command,
          "compile_xmodel.sh --export-dir {export_dir} --output-dir "
          "{output_dir} --name {name} --arch {arch}",
          "Command (argv template, no shell) that turns a job's export "
          "directory into an .xmodel; placeholders {export_dir} {output_dir} "
          "{work_dir} {name} {arch}. deploy/vitis/compile_xmodel.sh is the "
          "DPUCZDX8G script; it must be on PATH inside the Vitis AI "
          "environment.");
ABSL_FLAG(std::string, vitis_arch,
          "/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json",
          "DPU arch.json passed to the compile command as {arch}.");
ABSL_FLAG(int, vitis_compile_timeout_seconds, 7200,
          "Wall-clock limit of one compile; the command is killed after it.");
ABSL_FLAG(std::vector<std::string>, vart_runner_lib, {},
          "VART runner library per subgraph device for xmodels, as "
          "DEVICE=LIBRARY[,...] (e.g. DPU=libvart-dpu-runner.so); passed to "
          "vart::Runner::create_runner_with_attrs as its \"lib\" attrs. "
          "Empty: the library each xmodel names. Needs a build with "
          "-DPRUNESERVE_WITH_VART=ON.");
ABSL_FLAG(std::vector<std::string>, load_models, {},
          "Models to load for inference at start, as NAME or NAME:VERSION.");
ABSL_FLAG(bool, rebuild_index, false,
          "Recovery for a --data_dir whose models.db was lost or damaged "
          "while blobs remain (the server then refuses to start): moves a "
          "damaged models.db aside, opens or creates the index, re-creates "
          "the rows of every version from its record in <data_dir>/records, "
          "moves every blob still unlisted to <data_dir>/lost+found/, prints "
          "a summary and exits. Never deletes anything.");
ABSL_FLAG(int64_t, scrub_interval_seconds, 86400,
          "Seconds between background scrubs, which re-hash every stored "
          "model blob and mark versions whose bytes are missing or altered "
          "corrupt (refused for load and download; see prunectl model "
          "verify). The first runs one interval after start. 0 disables "
          "them.");
ABSL_FLAG(int, shutdown_grace_seconds, 10,
          "On SIGINT/SIGTERM, how long in-flight RPCs may run before they "
          "are cancelled.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the gRPC port; with --tls_key enables "
          "TLS. Re-read every --tls_refresh_seconds.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate it "
          "signed (mutual TLS).");
ABSL_FLAG(int, tls_refresh_seconds, 60,
          "How often the TLS files are re-read; replaced certificates apply "
          "to new handshakes without dropping connections.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of \"<sha256-hex> <role> <name>\" lines (prunectl token "
          "create prints them); every RPC but health and ServerLive then "
          "needs \"authorization: Bearer <token>\" of role infer, read or "
          "admin. Re-read on SIGHUP. Empty: no authentication (loopback only "
          "unless --insecure_remote).");
ABSL_FLAG(bool, insecure_remote, false,
          "Serve a non-loopback --listen address without TLS and tokens. "
          "Anyone reaching the port can then do anything.");
ABSL_FLAG(bool, metrics_allow_remote, false,
          "Serve /metrics (plaintext, no authentication) on a non-loopback "
          "--metrics_listen address.");
ABSL_FLAG(bool, reflection, false, "Register gRPC server reflection.");

int main(int argc, char** argv) {
  // Validator mode (core/torchscript/torchscript_validator.h): the server
  // starts its own binary like this for every uploaded TorchScript archive.
  // Nothing of the server is set up; _Exit skips static destructors.
  if (argc == 3 &&
      std::strcmp(argv[1], pruneserve::kTorchScriptValidatorFlag) == 0) {
    const int code = pruneserve::RunTorchScriptValidator(argv[2]);
    std::fflush(nullptr);
    std::_Exit(code);
  }
  // First, before any thread exists: may execute this binary again.
  pruneserve::DefaultOpenMpWaitPolicyToPassive(argv);
  // Large LibTorch buffers stay in the heap between training steps and
  // pruning copies instead of being mapped and unmapped each time.
  pruneserve::KeepAllocatorPages();
  absl::SetProgramUsageMessage(
      "PruneServe: model repository, pruning jobs and inference over gRPC.");
  absl::ParseCommandLine(argc, argv);

  // Block the shutdown signals in every thread; main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (absl::GetFlag(FLAGS_rebuild_index)) {
    const std::string dir = absl::GetFlag(FLAGS_data_dir);
    auto summary = pruneserve::ModelRepository::RebuildIndex(dir);
    if (!summary.ok()) {
      fprintf(stderr, "pruneserve: --rebuild_index: %s\n",
              summary.status().ToString().c_str());
      return 1;
    }
    if (!summary->damaged_index_moved_to.empty()) {
      printf("pruneserve: the old index was moved to %s\n",
             summary->damaged_index_moved_to.c_str());
    }
    printf(
        "pruneserve: index of %s rebuilt: %d version(s) restored from their "
        "records, %d record(s) skipped (blob gone or version present), %d "
        "unreadable record(s), %d unlisted blob(s) moved to %s/lost+found/. "
        "Start the server without --rebuild_index; upload models from "
        "lost+found/ again to keep them.\n",
        dir.c_str(), summary->restored_versions, summary->records_skipped,
        summary->unreadable_records, summary->moved_to_lost_found, dir.c_str());
    return 0;
  }

  pruneserve::ServerCoreOptions core_options;
  core_options.data_dir = absl::GetFlag(FLAGS_data_dir);
  core_options.max_model_bytes = absl::GetFlag(FLAGS_max_model_mb) << 20;
  core_options.scrub_interval =
      absl::Seconds(absl::GetFlag(FLAGS_scrub_interval_seconds));
  auto& validation = core_options.torchscript_validation;
  // /proc/self/exe is the running binary even if the file was replaced.
  validation.validator_argv = {"/proc/self/exe",
                               pruneserve::kTorchScriptValidatorFlag};
  validation.archive_limits.max_entries =
      absl::GetFlag(FLAGS_max_model_zip_entries);
  validation.timeout =
      absl::Seconds(absl::GetFlag(FLAGS_validator_timeout_seconds));
  validation.cpu_seconds = absl::GetFlag(FLAGS_validator_cpu_seconds);
  validation.address_space_bytes = absl::GetFlag(FLAGS_validator_memory_mb)
                                   << 20;
  core_options.max_concurrent_validations =
      absl::GetFlag(FLAGS_max_concurrent_validations);
  core_options.validation_slot_wait =
      absl::Seconds(absl::GetFlag(FLAGS_validation_slot_wait_seconds));
  auto& pool = core_options.inference.default_pool;
  pool.instances = absl::GetFlag(FLAGS_instances);
  pool.batching.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  pool.batching.max_queue_delay =
      absl::Microseconds(absl::GetFlag(FLAGS_batch_delay_us));
  pool.batching.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  for (const std::string& s : absl::GetFlag(FLAGS_preferred_batch_sizes)) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(s, &n) || n <= 0) {
      fprintf(stderr, "pruneserve: bad --preferred_batch_sizes entry \"%s\"\n",
              s.c_str());
      return 2;
    }
    pool.batching.preferred_batch_sizes.push_back(n);
  }
  auto& limits = core_options.inference.request_limits;
  limits.max_inputs = absl::GetFlag(FLAGS_max_request_inputs);
  limits.max_rank = absl::GetFlag(FLAGS_max_request_rank);
  limits.max_elements = absl::GetFlag(FLAGS_max_request_elements);
  limits.max_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  core_options.inference.max_load_instances =
      absl::GetFlag(FLAGS_max_load_instances);
  core_options.inference.max_load_batch_size =
      absl::GetFlag(FLAGS_max_load_batch_size);
  core_options.inference.max_loaded_versions =
      absl::GetFlag(FLAGS_max_loaded_versions);
  core_options.inference.loaded_models_memory_bytes =
      absl::GetFlag(FLAGS_loaded_models_memory_mb) << 20;
  core_options.jobs.workers = absl::GetFlag(FLAGS_job_workers);
  core_options.jobs.queue_capacity = absl::GetFlag(FLAGS_job_queue_capacity);
  core_options.jobs.max_attempts = absl::GetFlag(FLAGS_job_max_attempts);
  core_options.jobs.watch_progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_watch_progress_interval_ms));
  auto& spec_limits = core_options.job_spec_limits;
  spec_limits.max_description_bytes =
      absl::GetFlag(FLAGS_job_max_description_bytes);
  spec_limits.max_exclude_patterns =
      absl::GetFlag(FLAGS_job_max_exclude_patterns);
  spec_limits.max_exclude_pattern_bytes =
      absl::GetFlag(FLAGS_job_max_exclude_pattern_bytes);
  spec_limits.max_input_dim = absl::GetFlag(FLAGS_job_max_input_dim);
  spec_limits.max_input_elements = absl::GetFlag(FLAGS_job_max_input_elements);
  core_options.data_roots = absl::GetFlag(FLAGS_data_roots);
  core_options.datasets.max_archive_bytes =
      absl::GetFlag(FLAGS_dataset_max_upload_mb) << 20;
  core_options.datasets.tar_limits.max_extracted_bytes =
      absl::GetFlag(FLAGS_dataset_max_extracted_mb) << 20;
  core_options.datasets.tar_limits.max_entries =
      absl::GetFlag(FLAGS_dataset_max_entries);
  // Serving and jobs get disjoint shares of the cores, each thread its own
  // LibTorch intra-op count set once when it starts.
  pruneserve::ThreadBudgetOptions budget_options;
  budget_options.serving_instances = pool.instances;
  budget_options.job_workers = core_options.jobs.workers;
  budget_options.serving_threads = absl::GetFlag(FLAGS_intra_op_threads);
  budget_options.job_threads = absl::GetFlag(FLAGS_job_threads);
  const pruneserve::ThreadBudget budget =
      pruneserve::PlanThreadBudget(budget_options);
  core_options.inference.intra_op_threads = budget.serving_threads;
  core_options.jobs.intra_op_threads = budget.job_threads;
  fprintf(stderr, "pruneserve: %s\n", budget.Describe(budget_options).c_str());
  core_options.compiler.command_template =
      absl::GetFlag(FLAGS_vitis_compile_command);
  core_options.compiler.arch = absl::GetFlag(FLAGS_vitis_arch);
  core_options.compiler.timeout =
      absl::Seconds(absl::GetFlag(FLAGS_vitis_compile_timeout_seconds));
  const std::vector<std::string> runner_libs =
      absl::GetFlag(FLAGS_vart_runner_lib);
#ifdef PRUNESERVE_HAVE_VART
  if (!runner_libs.empty()) {
    auto libs = pruneserve::inference::ParseVartRunnerLibs(runner_libs);
    if (!libs.ok()) {
      fprintf(stderr, "pruneserve: --vart_runner_lib: %s\n",
              libs.status().ToString().c_str());
      return 2;
    }
    pruneserve::inference::VartBackendOptions vart;
    vart.runner_libs = *std::move(libs);
    core_options.inference.backend_factory =
        pruneserve::inference::MakeVartBackendFactory(std::move(vart));
  }
#else
  if (!runner_libs.empty()) {
    fprintf(stderr,
            "pruneserve: --vart_runner_lib needs a build with "
            "-DPRUNESERVE_WITH_VART=ON\n");
    return 2;
  }
#endif
  auto core = pruneserve::ServerCore::Create(core_options);
  if (!core.ok()) {
    fprintf(stderr, "pruneserve: %s\n", core.status().ToString().c_str());
    return 1;
  }

  for (const std::string& spec : absl::GetFlag(FLAGS_load_models)) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    int64_t version = 0;
    if (parts.size() > 2 ||
        (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &version))) {
      fprintf(stderr, "pruneserve: bad --load_models entry \"%s\"\n",
              spec.c_str());
      return 2;
    }
    auto loaded = (*core)->models().Load(parts[0], version);
    if (!loaded.ok()) {
      fprintf(stderr, "pruneserve: cannot load %s: %s\n", spec.c_str(),
              loaded.status().ToString().c_str());
      return 1;
    }
  }

  pruneserve::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.rpc_threads = absl::GetFlag(FLAGS_rpc_threads);
  options.default_rpc_deadline =
      absl::Seconds(absl::GetFlag(FLAGS_default_rpc_deadline_seconds));
  options.upload_idle_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_upload_idle_timeout_seconds));
  options.max_concurrent_uploads = absl::GetFlag(FLAGS_max_concurrent_uploads);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.tls.refresh_seconds = absl::GetFlag(FLAGS_tls_refresh_seconds);
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  options.insecure_remote = absl::GetFlag(FLAGS_insecure_remote);
  options.metrics_allow_remote = absl::GetFlag(FLAGS_metrics_allow_remote);
  options.reflection = absl::GetFlag(FLAGS_reflection);
  auto server = pruneserve::Server::Start(options, *std::move(core));
  if (!server.ok()) {
    fprintf(stderr, "pruneserve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  // Tests and scripts read this line to learn the bound ports.
  printf("pruneserve: serving grpc_port=%d metrics_port=%d data_dir=%s\n",
         (*server)->grpc_port(), (*server)->metrics_port(),
         core_options.data_dir.c_str());
  fflush(stdout);

  // The one signal path: SIGHUP re-reads the tokens file (TLS files are
  // watched by gRPC itself), SIGINT/SIGTERM end the loop.
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    const absl::Status reloaded = (*server)->ReloadAuthTokens();
    if (reloaded.ok()) {
      fprintf(stderr, "pruneserve: SIGHUP: tokens file reloaded\n");
    } else {
      fprintf(stderr,
              "pruneserve: SIGHUP: tokens file not reloaded, previous tokens "
              "kept: %s\n",
              reloaded.ToString().c_str());
    }
  }
  fprintf(stderr, "pruneserve: signal %d, shutting down\n", sig);
  (*server)->Shutdown(
      absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds)));
  fprintf(stderr, "pruneserve: stopped\n");
  return 0;
}
