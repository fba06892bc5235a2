// libFuzzer harness: the configuration loader (config/config.h), TOML and JSON.
//
// load_config_text's contract: any text either loads or throws ConfigError (whose message names
// the key); no other exception, no crash. A configuration that loads is then described
// (describe_config, secrets redacted) and the description must load again: `pgcdc check` prints
// it as a configuration the daemon accepts. redact_url must take any URL text.
//
// Input: byte 0 chooses the format (even: "toml", odd: "json"); the rest is the text.
// `*_file` keys and `${ENV}` references read files and the environment, as the daemon does; the
// fuzzer only reads them.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string format = (data[0] & 1) ? "json" : "toml";
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  volatile std::size_t sink = pgcdc::redact_url(text).size();
  (void)sink;

  pgcdc::Config config;
  try {
    config = pgcdc::load_config_text(text, format);
  } catch (const pgcdc::ConfigError&) {
    return 0;  // the documented outcome for a bad configuration
  }

  const std::string described = pgcdc::describe_config(config);
  try {
    pgcdc::load_config_text(described, "toml");
  } catch (const pgcdc::ConfigError& error) {
    std::fprintf(stderr, "describe_config output does not load again: %s\n---\n%s---\n",
                 error.what(), described.c_str());
    std::abort();
  }
  return 0;
}
