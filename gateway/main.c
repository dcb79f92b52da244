/* zsa-gateway entry point: configuration and start-up checks. The WebSocket/REST server itself
 * (libwebsockets on a libuv loop) lands with issue 4; until then the daemon only supports --check.
 * Main thread. */
#include <stddef.h>
#include <stdio.h>

#include "common/daemon.h"
#include "common/net.h"

struct gw_config {
    struct cm_common_cfg common;
    char *listen;  /* host:port for WebSocket, REST, metrics and the dashboard */
    int processes; /* worker processes sharing the port (0: one per core) */
};

static const struct cm_opt gw_opts[] = {
    CM_COMMON_OPTS(struct gw_config),
    {"listen", CM_OPT_STR, offsetof(struct gw_config, listen), "127.0.0.1:8080", 0, 0, NULL,
     cm_hostport_check, "address for WebSocket (/ws), REST (/api), /metrics and the dashboard"},
    {"processes", CM_OPT_INT, offsetof(struct gw_config, processes), "0", 0, 256, NULL, NULL,
     "processes sharing the port with SO_REUSEPORT (0: one per core)"},
};

static const struct cm_config_spec gw_spec = {
    "zsa-gateway", "WebSocket gateway of zsa: live job events, replay on reconnect, REST.", gw_opts,
    sizeof(gw_opts) / sizeof(gw_opts[0])};

int main(int argc, char **argv)
{
    struct gw_config cfg = {0};
    int rc = cm_daemon_init(&gw_spec, &cfg, &cfg.common, argc, argv);
    if (rc == CM_DAEMON_CONTINUE) {
        if (cfg.common.check) {
            rc = cm_daemon_check_redis(&cfg.common);
        } else {
            cm_log(CM_LOG_ERROR, "the gateway server is not implemented yet (issue 4); "
                                 "only --check, --help and --print-config work");
            rc = 3;
        }
    }
    cm_daemon_deinit(&gw_spec, &cfg, &cfg.common);
    return rc;
}
