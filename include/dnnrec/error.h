// Error types thrown by the library; only the CLI catches them and maps them to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace dnnrec {

/// Process exit codes, documented in the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,       ///< an unexpected internal or I/O failure
  kExitBadInput = 2,      ///< bad data, config, flags or checkpoint
  kExitDiverged = 3,      ///< the training loss became non-finite
  kExitPeerLost = 4,      ///< distributed training lost a rank, or could not form its group
  kExitInterrupted = 130  ///< SIGINT / SIGTERM
};

/// Base of every error the library throws; carries the exit code the CLI returns.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = kExitFailure)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// A bad configuration key, value or flag.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(message, kExitBadInput) {}
};

/// Bad input data; formats as "file:line: message" when a line is known (line > 0).
class DataError : public Error {
 public:
  DataError(const std::string& file, long line, const std::string& message)
      : Error(format(file, line, message), kExitBadInput), file_(file), line_(line) {}
  explicit DataError(const std::string& message) : Error(message, kExitBadInput), line_(0) {}
  const std::string& file() const { return file_; }
  long line() const { return line_; }

  static std::string format(const std::string& file, long line, const std::string& message) {
    return line > 0 ? file + ":" + std::to_string(line) + ": " + message : file + ": " + message;
  }

 private:
  std::string file_;
  long line_;
};

/// A checkpoint that is missing, truncated, corrupted, foreign or of a newer format.
class CheckpointError : public Error {
 public:
  explicit CheckpointError(const std::string& message) : Error(message, kExitBadInput) {}
};

/// The training loss became NaN or infinite.
class DivergedError : public Error {
 public:
  explicit DivergedError(const std::string& message) : Error(message, kExitDiverged) {}
};

/// Distributed training cannot go on: a rank died, hung or never joined.
class DistributedError : public Error {
 public:
  explicit DistributedError(const std::string& message) : Error(message, kExitPeerLost) {}
};

}  // namespace dnnrec
