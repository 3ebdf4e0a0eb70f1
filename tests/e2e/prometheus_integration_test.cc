// The files under deploy/ against the real Prometheus: promtool validates
// the configuration and rule files and runs their unit tests; then a real
// Prometheus scrapes a real pruneserve under inference load every second,
// evaluates the recording and alerting rules, and answers every PromQL
// expression of the Grafana dashboard. An expression whose metrics the
// server exports must return data; one over metrics the server has not
// exported (per-job series exist only while a job runs, failure counters
// only after a failure) must still parse and evaluate.
//
// Skipped when /usr/bin/prometheus is missing (scripts/setup.sh installs
// Debian's `prometheus` package, so CI runs it).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/inference_client.h"
#include "core/util/subprocess.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr char kModel[] = "tiny";
// Every how many requests a load thread sends one with a wrong shape, so
// the failure counter and the error-ratio rule have data.
constexpr int kFailureEvery = 10;

std::string SourceDir() {
  const char* dir = std::getenv("PRUNESERVE_SOURCE_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return PRUNESERVE_DEFAULT_SOURCE_DIR;
}

std::string DeployFile(const std::string& relative) {
  return absl::StrCat(SourceDir(), "/deploy/", relative);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// A Prometheus server child process on a loopback port with its own
// storage directory. Not thread-safe; the destructor stops it (SIGTERM,
// then waits).
class PrometheusProcess {
 public:
  ~PrometheusProcess() {
    if (process_ == nullptr) return;
    (void)process_->Signal(SIGTERM);
    (void)process_->Wait();
  }

  // Starts Prometheus on `config` and blocks until /-/ready answers 200, it
  // exits, or 30 s pass (then an error with its log).
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(
      const std::string& config, const std::string& work_dir) {
    auto proc = std::unique_ptr<PrometheusProcess>(new PrometheusProcess());
    proc->port_ = testing::PickFreePort();
    proc->log_path_ = work_dir + "/prometheus.log";
    SubprocessOptions options;
    options.argv = {
        kPrometheus,
        "--config.file=" + config,
        "--storage.tsdb.path=" + work_dir + "/tsdb",
        absl::StrCat("--web.listen-address=127.0.0.1:", proc->port_),
        "--log.level=warn",
    };
    options.env = Subprocess::CurrentEnvironment();
    options.stdin_target = StreamTarget::Inherit();
    options.stdout_target = StreamTarget::File(proc->log_path_, true);
    options.stderr_target = StreamTarget::SameAsStdout();
    options.new_process_group = false;
    auto process = Subprocess::Start(std::move(options));
    if (!process.ok()) return process.status();
    proc->process_ = *std::move(process);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (proc->process_->HasExited()) {
        return absl::UnavailableError(absl::StrCat(
            "prometheus exited at start-up: ", ReadFile(proc->log_path_)));
      }
      if (testing::HttpGet(proc->port_, "/-/ready").ok()) return proc;
      absl::SleepFor(absl::Milliseconds(100));  // polling an external process
    }
    return absl::DeadlineExceededError(absl::StrCat(
        "prometheus not ready after 30 s: ", ReadFile(proc->log_path_)));
  }

  // GET `path` on the HTTP API, parsed; an error unless HTTP 200 and
  // "status": "success".
  absl::StatusOr<nlohmann::json> Api(const std::string& path) const {
    auto body = testing::HttpGet(port_, path);
    if (!body.ok()) return body.status();
    auto json =
        nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || json.value("status", "") != "success") {
      return absl::InternalError(absl::StrCat("GET ", path, ": ", *body));
    }
    return json["data"];
  }

  // The instant-query result vector of `promql` (empty: no data).
  absl::StatusOr<nlohmann::json> Query(const std::string& promql) const {
    auto data = Api("/api/v1/query?query=" + UrlEncode(promql));
    if (!data.ok()) {
      return absl::Status(data.status().code(),
                          absl::StrCat(promql, ": ", data.status().message()));
    }
    const std::string type = (*data)["resultType"].get<std::string>();
    if (type == "scalar") return nlohmann::json::array({(*data)["result"]});
    return (*data)["result"];
  }

  std::string log() const { return ReadFile(log_path_); }

 private:
  PrometheusProcess() = default;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::string log_path_;
};

// Names of the series a scrape of `exposition` returned (sample names, so
// histograms contribute _bucket, _sum and _count).
std::set<std::string> ExportedSeries(const std::string& exposition) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(std::string(line.substr(0, line.find_first_of("{ "))));
  }
  return names;
}

// Metric and recorded-series names an expression selects: identifiers
// outside string literals that start with pruneserve_ or process_, contain
// a colon (recording rules), or are `up`.
std::set<std::string> SelectedNames(const std::string& promql) {
  static const std::regex kQuoted("\"[^\"]*\"");
  static const std::regex kIdentifier("[a-zA-Z_:][a-zA-Z0-9_:]*");
  const std::string bare = std::regex_replace(promql, kQuoted, "\"\"");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(bare.begin(), bare.end(), kIdentifier);
       it != std::sregex_iterator(); ++it) {
    const std::string id = it->str();
    if (absl::StartsWith(id, "pruneserve_") ||
        absl::StartsWith(id, "process_") || absl::StrContains(id, ':') ||
        id == "up") {
      names.insert(id);
    }
  }
  return names;
}

// Whether every series `promql` selects exists: exported by the server,
// synthesized by Prometheus (`up`), or recorded by a rule whose own
// expression qualifies.
bool InputsExist(const std::string& promql,
                 const std::set<std::string>& exported,
                 const std::map<std::string, std::string>& recorded,
                 int depth = 0) {
  for (const std::string& name : SelectedNames(promql)) {
    if (name == "up" || exported.count(name) > 0) continue;
    auto rule = recorded.find(name);
    if (rule == recorded.end() || depth > 8 ||
        !InputsExist(rule->second, exported, recorded, depth + 1)) {
      return false;
    }
  }
  return true;
}

// Whether docs/metrics.md (`doc`) documents the series `name`, taking a
// histogram's _bucket, _sum and _count series as its own.
bool Documented(const std::string& doc, const std::string& name) {
  if (absl::StrContains(doc, absl::StrCat("`", name, "`"))) return true;
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix) &&
        absl::StrContains(
            doc, absl::StrCat("`", name.substr(0, name.size() - suffix.size()),
                              "`"))) {
      return true;
    }
  }
  return false;
}

// Grafana panel and variable queries of a dashboard, with its variables
// replaced by concrete values. `label_values(selector, label)` variable
// queries contribute their selector.
std::vector<std::string> DashboardExpressions(const nlohmann::json& dashboard) {
  std::vector<std::string> exprs;
  std::vector<const nlohmann::json*> panels;
  for (const auto& p : dashboard["panels"]) {
    panels.push_back(&p);
    if (p.contains("panels")) {
      for (const auto& nested : p["panels"]) panels.push_back(&nested);
    }
  }
  for (const nlohmann::json* p : panels) {
    if (!p->contains("targets")) continue;
    for (const auto& t : (*p)["targets"]) {
      exprs.push_back(t["expr"].get<std::string>());
    }
  }
  static const std::regex kLabelValues(R"(^label_values\((.*),\s*\w+\)$)");
  for (const auto& var : dashboard["templating"]["list"]) {
    if (var["type"].get<std::string>() != "query") continue;
    const std::string q = var["query"].is_object()
                              ? var["query"]["query"].get<std::string>()
                              : var["query"].get<std::string>();
    std::smatch m;
    if (std::regex_match(q, m, kLabelValues)) exprs.push_back(m[1].str());
  }
  for (std::string& e : exprs) {
    e = absl::StrReplaceAll(e, {{"$__rate_interval", "1m"},
                                {"$__interval", "15s"},
                                {"$__range", "5m"},
                                {"$model", kModel},
                                {"$version", "1"}});
  }
  return exprs;
}

// Sends inference requests from `threads` threads until destroyed; every
// kFailureEvery-th request has a wrong channel count and fails with
// INVALID_ARGUMENT. Owns its threads; joins them in the destructor.
class InferenceLoad {
 public:
  InferenceLoad(const std::string& address, int threads)
      : client_(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()),
            absl::Seconds(10)) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { Run(); });
    }
  }
  ~InferenceLoad() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  int64_t ok() const { return ok_; }
  int64_t failed() const { return failed_; }

 private:
  void Run() {
    const std::vector<float> good(2 * 1 * 28 * 28, 0.5f);
    const std::vector<float> bad(1 * 3 * 28 * 28, 0.5f);
    for (int i = 1; !stop_; ++i) {
      const bool fail = i % kFailureEvery == 0;
      auto out = fail ? client_.Infer(kModel, 1, {1, 3, 28, 28}, bad)
                      : client_.Infer(kModel, 1, {2, 1, 28, 28}, good);
      ++(out.ok() ? ok_ : failed_);
    }
  }

  client::InferenceClient client_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ok_{0};
  std::atomic<int64_t> failed_{0};
  std::vector<std::thread> threads_;
};

double SampleValue(const nlohmann::json& sample) {
  return std::stod(sample["value"][1].get<std::string>());
}

class PrometheusIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPrometheus) ||
        !std::filesystem::exists(kPromtool)) {
      GTEST_SKIP() << kPrometheus << " or " << kPromtool
                   << " is missing: install Debian's prometheus package "
                      "(scripts/setup.sh does)";
    }
  }
};

TEST_F(PrometheusIntegrationTest, PromtoolAcceptsConfigRulesAndRuleTests) {
  testing::CommandResult r = testing::RunCommand(absl::StrCat(
      kPromtool, " check config ", DeployFile("prometheus/prometheus.yml")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "2 rule files found")) << r.output;

  r = testing::RunCommand(absl::StrCat(
      kPromtool, " check rules ", DeployFile("prometheus/rules/recording.yml"),
      " ", DeployFile("prometheus/rules/alerts.yml")));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  r = testing::RunCommand(
      absl::StrCat(kPromtool, " test rules ",
                   DeployFile("prometheus/rules/rules_test.yml")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "SUCCESS")) << r.output;
}

TEST_F(PrometheusIntegrationTest, RulesAndDashboardQueriesHaveData) {
  testing::TempDir dir;
  auto server = testing::ServerProcess::Start(
      dir.Join("data"), {"--instances=1", "--max_batch_size=8"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string model_path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(model_path);
  const std::string s = "--server " + (*server)->grpc_address() + " ";
  testing::CommandResult cli =
      testing::RunPrunectl(s + "model upload " + model_path + " --name " +
                           kModel + " --input-shape 1,1,28,28");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  cli = testing::RunPrunectl(s + "serve load " + kModel);
  ASSERT_EQ(cli.exit_code, 0) << cli.output;

  // The deployed rule files, as they are, on a 1 s scrape and evaluation
  // cycle so the 1m windows fill within seconds.
  const std::string config = dir.Join("prometheus.yml");
  std::ofstream(config) << absl::StrCat(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "  evaluation_interval: 1s\n"
      "rule_files:\n"
      "  - ",
      DeployFile("prometheus/rules/recording.yml"),
      "\n"
      "  - ",
      DeployFile("prometheus/rules/alerts.yml"),
      "\n"
      "scrape_configs:\n"
      "  - job_name: pruneserve\n"
      "    static_configs:\n"
      "      - targets: [\"127.0.0.1:",
      (*server)->metrics_port(), "\"]\n");
  auto prometheus = PrometheusProcess::Start(config, dir.path());
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  const PrometheusProcess& prom = **prometheus;

  auto load = std::make_unique<InferenceLoad>((*server)->grpc_address(), 2);

  // Everything below is polled against a deadline: Prometheus scrapes and
  // evaluates on its own clock.
  const absl::Time deadline = absl::Now() + absl::Seconds(40);
  auto poll = [&](const std::string& promql,
                  const std::function<bool(const nlohmann::json&)>& done)
      -> absl::StatusOr<nlohmann::json> {
    while (true) {
      auto result = prom.Query(promql);
      if (!result.ok() || done(*result) || absl::Now() > deadline) {
        return result;
      }
      absl::SleepFor(absl::Milliseconds(250));  // next evaluation cycle
    }
  };
  auto non_empty = [](const nlohmann::json& r) { return !r.empty(); };

  // The error-ratio alert goes pending (10 % of requests fail; it needs
  // 5 % for 5 minutes to fire), which also proves both rule groups run.
  auto pending = poll(
      "ALERTS{alertname=\"PruneServeInferenceErrors\", alertstate=\"pending\"}",
      non_empty);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 1u) << prom.log();
  EXPECT_EQ((*pending)[0]["metric"]["model"].get<std::string>(), kModel);
  EXPECT_EQ((*pending)[0]["metric"]["version"].get<std::string>(), "1");

  // Every rule evaluates cleanly.
  auto groups = prom.Api("/api/v1/rules");
  ASSERT_TRUE(groups.ok()) << groups.status();
  std::map<std::string, std::string> recorded;
  std::vector<std::string> alert_exprs;
  int rules = 0;
  for (const auto& group : (*groups)["groups"]) {
    for (const auto& rule : group["rules"]) {
      ++rules;
      const std::string name = rule["name"].get<std::string>();
      EXPECT_EQ(rule["health"].get<std::string>(), "ok")
          << name << ": " << rule.dump();
      if (rule["type"].get<std::string>() == "recording") {
        recorded[name] = rule["query"].get<std::string>();
      } else {
        alert_exprs.push_back(rule["query"].get<std::string>());
        // The latency alert may go pending on a busy machine; nothing
        // fires before its `for:` duration.
        const std::string state = rule["state"].get<std::string>();
        EXPECT_NE(state, "firing") << name;
        if (name == "PruneServeDown") EXPECT_EQ(state, "inactive");
        if (name == "PruneServeInferenceErrors") EXPECT_EQ(state, "pending");
      }
    }
  }
  EXPECT_EQ(rules, 21);
  EXPECT_EQ(alert_exprs.size(), 6u);

  auto exposition = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(exposition.ok()) << exposition.status();
  const std::set<std::string> exported = ExportedSeries(*exposition);
  ASSERT_GT(exported.count("pruneserve_inference_request_failure_total"), 0u);

  auto dashboard = nlohmann::json::parse(
      ReadFile(DeployFile("grafana/dashboards/pruneserve.json")), nullptr,
      /*allow_exceptions=*/false);
  ASSERT_FALSE(dashboard.is_discarded()) << "dashboard JSON does not parse";
  std::vector<std::string> exprs = DashboardExpressions(dashboard);
  EXPECT_GE(exprs.size(), 30u);
  for (const auto& [name, query] : recorded) exprs.push_back(name);
  for (const auto& query : alert_exprs) exprs.push_back(query);

  // Per-job series (pruneserve_job_*) exist only while a job runs and the
  // job counters only once a job ends, so no job here means no data for
  // them; so do expressions that filter (alerts that do not fire). Those
  // must still parse and evaluate. All others must return data.
  // A name that is neither documented nor recorded is a typo, even when
  // the query itself evaluates.
  const std::string doc = ReadFile(SourceDir() + "/docs/metrics.md");
  int with_data = 0;
  for (const std::string& e : exprs) {
    EXPECT_FALSE(absl::StrContains(e, '$')) << "unsubstituted variable: " << e;
    for (const std::string& name : SelectedNames(e)) {
      EXPECT_TRUE(name == "up" || recorded.count(name) > 0 ||
                  Documented(doc, name))
          << "unknown series " << name << " in " << e;
    }
    const bool is_alert = std::find(alert_exprs.begin(), alert_exprs.end(),
                                    e) != alert_exprs.end();
    const bool expect_data = !is_alert && InputsExist(e, exported, recorded);
    auto result = expect_data ? poll(e, non_empty) : prom.Query(e);
    EXPECT_TRUE(result.ok()) << result.status();
    if (result.ok() && expect_data) {
      EXPECT_FALSE(result->empty()) << "no data: " << e;
      ++with_data;
    }
  }
  // Inference, repository and process expressions at the least.
  EXPECT_GE(with_data, 40);

  // The recorded numbers mean what they say.
  auto value = [&](const std::string& series) {
    auto r = poll(absl::StrCat(series, "{model=\"", kModel, "\"}"), non_empty);
    EXPECT_TRUE(r.ok() && r->size() == 1) << series << ": " << r.status();
    return r.ok() && r->size() == 1 ? SampleValue((*r)[0]) : -1.0;
  };
  EXPECT_GT(value("model_version:pruneserve_inference_images:rate1m"), 0);
  EXPECT_GT(value("model_version:pruneserve_inference_fps"), 0);
  const double p50 =
      value("model_version:pruneserve_inference_request_duration_seconds:p50");
  const double p90 =
      value("model_version:pruneserve_inference_request_duration_seconds:p90");
  const double p99 =
      value("model_version:pruneserve_inference_request_duration_seconds:p99");
  EXPECT_GT(p50, 0);
  EXPECT_LE(p50, p90);
  EXPECT_LE(p90, p99);
  EXPECT_LE(p99, 10);
  const double errors =
      value("model_version:pruneserve_inference_error_ratio:rate1m");
  EXPECT_GT(errors, 0.5 / kFailureEvery);
  EXPECT_LT(errors, 2.0 / kFailureEvery);
  // Two images in each successful request, up to --max_batch_size rows in a
  // batch.
  const double mean_batch =
      value("model_version:pruneserve_inference_batch_size:mean1m");
  EXPECT_GE(mean_batch, 2);
  EXPECT_LE(mean_batch, 8);

  EXPECT_GT(load->ok(), 0);
  EXPECT_GT(load->failed(), 0);
  load.reset();
  EXPECT_EQ((*server)->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace pruneserve
