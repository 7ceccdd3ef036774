// Test helper: a private redis-server on 127.0.0.1, started and killed by the test.
//
//   if (!RedisServer::available()) GTEST_SKIP() << "redis-server not installed";
//   RedisServer server;                  // random free port in 20000-40000, waits for PING
//   auto store = RemoteStore::open(server.url());
//   server.stop();                       // SIGKILL (a crash, not a clean shutdown)
//   server.start();                      // same port again, empty (no persistence)
//
// The server runs with `--save "" --appendonly no --daemonize no`; it dies with the test process
// (PR_SET_PDEATHSIG) if the destructor never runs. The binary is EAVDB_REDIS_SERVER (set by the
// test CMake), else "redis-server" on PATH.
//
// Thread-safety: none; use from the test's thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef EAVDB_REDIS_SERVER
#define EAVDB_REDIS_SERVER ""
#endif

namespace eavdb::testing {

/// A redis-server child process. See the file comment.
class RedisServer {
 public:
  using Reply = std::unique_ptr<redisReply, void (*)(void*)>;

  /// Path of the redis-server binary, or "" when none is installed.
  static std::string binary() {
    std::string configured = EAVDB_REDIS_SERVER;
    if (!configured.empty() && ::access(configured.c_str(), X_OK) == 0) return configured;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      std::string candidate = dirs.substr(start, end - start) + "/redis-server";
      if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
    return "";
  }
  /// True when binary() found one.
  static bool available() { return !binary().empty(); }

  /// Starts a server on a random free port; throws std::runtime_error when none starts.
  RedisServer() : binary_(binary()) {
    if (binary_.empty()) throw std::runtime_error("redis-server is not installed");
    std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int> ports(20000, 32767);  // below the ephemeral range
    for (int attempt = 0; attempt < 20; ++attempt) {
      port_ = ports(rng);
      if (port_free(port_) && start()) return;
    }
    throw std::runtime_error("could not start redis-server");
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /// (Re)starts the server on port(); true once it answers PING (within 10 s).
  bool start() {
    if (pid_ > 0) return true;
    std::string port = std::to_string(port_);
    std::vector<std::string> args = {binary_,  "--port",     port,           "--bind", "127.0.0.1",
                                     "--save", "",           "--appendonly", "no",     "--daemonize",
                                     "no",     "--loglevel", "warning",      "--dir",  "/tmp"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {  // child: only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      int null = ::open("/dev/null", O_RDWR);
      if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken or bad binary
        pid_ = -1;
        return false;
      }
      auto r = command({"PING"});
      if (r && r->type == REDIS_REPLY_STATUS) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
  }

  /// Kills the server with SIGKILL and reaps it. No-op when not running.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  bool running() const { return pid_ > 0; }
  /// Freezes the server (SIGSTOP): connections stay open, every command times out, no data is
  /// lost. resume() (SIGCONT) lets it continue where it stopped.
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  int port() const { return port_; }
  /// "redis://127.0.0.1:<port>" plus `suffix` (e.g. "/3").
  std::string url(const std::string& suffix = "") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + suffix;
  }

  /// Runs one command on a fresh connection (db 0); nullptr when the server does not answer.
  Reply command(const std::vector<std::string>& argv) const {
    Reply none(nullptr, freeReplyObject);
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{1, 0});
    if (!c) return none;
    if (c->err) {
      redisFree(c);
      return none;
    }
    redisSetTimeout(c, timeval{2, 0});
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
    redisFree(c);
    return Reply(r, freeReplyObject);
  }

 private:
  static bool port_free(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  std::string binary_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace eavdb::testing
