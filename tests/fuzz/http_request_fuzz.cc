// libFuzzer target: raw bytes from a client through the web server.
//
// How: one real WebServer (its routes, the host allowlist, the token check,
// sessions, CSRF, the API over a SQLite store holding the example DAGs, a
// few runs and a task log, the embedded assets) listens on 127.0.0.1. Each
// input is one client connection: the bytes are sent as they are, the
// sending side is shut down, and the answer is read until the server closes.
// The server answers every whole request of an input in turn, as it would a
// pipelining client, and then closes on the half-close.
//
// Why a socket rather than handing the bytes to httplib in-process: httplib's
// request parsing entry point is not public, and a socket reaches all of the
// server's code a client reaches, the connection handling included (read
// timeouts, request framing and limits, the response writer, which is where
// ranges over-read), with no seam added to the server for the fuzzer. The
// cost is a loopback connection per input, about a millisecond under ASan.
// Debian builds httplib as a shared library, so its own code runs without
// coverage: what guides the fuzzer is coverage of Sluice's code.
//
// Findings besides crashes and sanitizer reports (the target aborts with the
// reason): a 500 (an exception no handler turned into a fitting status), a
// Content-Length over 16 MB (an over-read announces itself that way), and no
// complete answer within 5 s.
//
// SLUICE_FUZZ_SHOW_ANSWERS=1 prints every answer (to write seeds with).
// Credentials the seeds use: Host localhost (or fuzz.example, allowed in the
// config), Authorization: Bearer fuzz-token. The clock is fake and moves a
// minute per input, so wrong tokens in one input do not lock later ones out.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/sqlite_store.h"
#include "core/store.h"
#include "core/time.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"
#include "web/server.h"

namespace {

using sluice::Millis;

constexpr const char* kConfigYaml = R"(web:
  api_token: fuzz-token
  base_url: http://sluice.example.com:8080
  allowed_hosts: [fuzz.example]
connections:
  warehouse: postgresql://loader:s3cret-pass@db.example.com:5432/dw
)";

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what.c_str());
  std::abort();
}

/// Sends `request` on a new connection to `port`, shuts down the sending
/// side and returns every byte the server answers until it closes. Sending
/// and receiving interleave, so a large answer never blocks a large request.
std::string round_trip(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) finding("cannot create a socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) {
    finding("cannot connect to the server");
  }
  std::string answer;
  size_t sent = 0;
  bool shut = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buffer[65536];
  while (true) {
    if (!shut && sent == request.size()) {
      shutdown(fd, SHUT_WR);
      shut = true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      finding("no complete answer within 5 s; " + std::to_string(answer.size()) +
              " bytes came back");
    }
    pollfd p{fd, static_cast<short>(POLLIN | (shut ? 0 : POLLOUT)), 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    if (!shut && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        sent = request.size();  // the server stopped reading; what it answers still counts
      }
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n > 0) {
        answer.append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        break;
      }
    }
  }
  close(fd);
  return answer;
}

/// Checks each response in `answer` while it can tell where one ends (an
/// answer to HEAD has a Content-Length but no body; parsing stops there).
void check_answer(const std::string& answer) {
  size_t at = 0;
  while (at < answer.size()) {
    size_t head_end = answer.find("\r\n\r\n", at);
    if (head_end == std::string::npos || answer.compare(at, 9, "HTTP/1.1 ") != 0) return;
    std::string head = answer.substr(at, head_end - at);
    if (head.compare(9, 4, "500 ") == 0) finding("500 answered:\n" + answer);
    uint64_t length = 0;
    for (size_t line = head.find("\r\n"); line != std::string::npos;
         line = head.find("\r\n", line + 2)) {
      if (head.compare(line + 2, 15, "Content-Length:") != 0) continue;
      length = std::strtoull(head.c_str() + line + 17, nullptr, 10);
      if (length > (16u << 20)) finding("Content-Length " + std::to_string(length) + ":\n" + head);
    }
    at = head_end + 4 + length;
  }
}

/// The server, its store and clock, set up once for every input.
struct Harness {
  std::filesystem::path dir;
  sluice::FakeClock clock{sluice::Timestamp(Millis(1770724800000))};  // 2026-02-10T12:00:00Z
  sluice::Config config;
  std::unique_ptr<sluice::Store> store;
  std::unique_ptr<sluice::DagCache> cache;
  std::unique_ptr<sluice::WebServer> server;
  int port = 0;

  Harness() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) finding("cannot make a temporary folder");
    dir = pattern;
    sluice::apply_config_yaml(config, kConfigYaml, "fuzz.yaml");
    store = sluice::open_sqlite_store((dir / "sluice.db").string());
    store->migrate();
    cache = std::make_unique<sluice::DagCache>(*store);
    sluice::FolderLoadResult dags = sluice::load_dag_folder(SLUICE_SOURCE_DIR "/dags");
    for (const sluice::LoadResult& file : dags.files) {
      if (!file.dag) continue;
      store->upsert_dag(file.dag->id, file.dag->file, file.content_hash, file.content,
                        sluice::dag_to_json(*file.dag), false, 16, clock.now());
    }
    server = std::make_unique<sluice::WebServer>(*store, *cache, config, clock);
    port = server->start("127.0.0.1", 0);
    add_runs();
  }

  ~Harness() {
    server->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  /// Runs of two DAGs, one with a finished task and a log, a worker and a
  /// scheduler, so that every route finds something.
  void add_runs() {
    sluice::WorkerRecord worker;
    worker.id = "fuzz-worker";
    worker.host = "fuzz \"host\"\n";  // metrics labels quote and escape it
    worker.slots = 4;
    worker.queues = {"default", "spark"};
    worker.started_at = worker.last_heartbeat = clock.now();
    store->register_worker(worker);
    store->heartbeat_scheduler("fuzz-scheduler", "fuzz\\host", true, Millis(12), clock.now());

    std::string run_id;
    for (const char* dag : {"orders_elt", "hello_shell"}) {
      std::string answer = round_trip(port, std::string("POST /api/v1/dags/") + dag +
                                              "/runs HTTP/1.1\r\nHost: localhost\r\n"
                                              "Authorization: Bearer fuzz-token\r\n"
                                              "Content-Type: application/json\r\n"
                                              "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
      size_t body = answer.find("\r\n\r\n");
      if (answer.compare(0, 12, "HTTP/1.1 201") != 0 || body == std::string::npos) {
        finding("cannot trigger " + std::string(dag) + ":\n" + answer);
      }
      run_id = nlohmann::json::parse(answer.substr(body + 4))["run_id"];
    }
    sluice::RunRecord run = *store->get_run("hello_shell", run_id);
    auto dag = cache->get(run.version_id);
    store->reconcile_run(run.id, sluice::make_decider(dag, clock.now(), true), clock.now());
    sluice::ClaimRequest claim;
    claim.worker_id = worker.id;
    claim.now = clock.now();
    claim.max_tasks = 1;
    for (const sluice::ClaimedTask& claimed : store->claim_tasks(claim)) {
      sluice::TaskResult result;
      result.ti_id = claimed.task.id;
      result.task_id = claimed.task.task_id;
      result.try_number = claimed.task.try_number;
      result.worker_id = claim.worker_id;
      result.state = sluice::TaskState::kSuccess;
      result.ended_at = clock.now();
      result.final_log = "hello\nsecret s3cret-pass\n\xe2\x82\xac done\n";
      result.final_log_seq = 1;
      store->finish_task(result, sluice::make_decider(dag, clock.now()));
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  harness.clock.advance(std::chrono::minutes(1));
  std::string answer =
      round_trip(harness.port, std::string(reinterpret_cast<const char*>(data), size));
  // For writing seeds: what the server answered to each input.
  static const bool show = std::getenv("SLUICE_FUZZ_SHOW_ANSWERS") != nullptr;
  if (show) std::fprintf(stderr, "%s\n", answer.c_str());
  check_answer(answer);
  return 0;
}
