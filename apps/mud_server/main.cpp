// mud_server: a MUD over WebSocket with a browser client. `mud_server` alone serves the
// shipped world on http://127.0.0.1:4000 (client at /, WebSocket at /ws, /healthz,
// /metrics) and keeps its SQLite file in ./mud-data. See docs/mud.md; --help lists flags.
#include "server.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    mud::Config config;
    try {
        if (!mud::parse_flags(argc, argv, config)) return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mud_server: %s\n", e.what());
        return 2;
    }
    try {
        mud::MudServer server(config);
        std::printf("listening on %s:%u\n", config.host.c_str(), server.port());
        std::printf("mud_server: world \"%s\", data in %s; open http://%s:%u/ in a browser\n",
                    config.world.c_str(), config.data_dir.c_str(), config.host.c_str(), server.port());
        std::fflush(stdout);
        server.run();
        std::printf("mud_server: stopped; every character saved\n");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mud_server: %s\n", e.what());
        return 1;
    }
}
