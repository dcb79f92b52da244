/* Tests common/log.c: level filtering before formatting, text and JSON lines. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

/* Captures what one call writes. */
static void capture(char *buf, size_t n, void (*fn)(void))
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int old = cm_log_set_fd(fds[1]);
    fn();
    cm_log_set_fd(old);
    close(fds[1]);
    ssize_t got = read(fds[0], buf, n - 1);
    buf[got > 0 ? got : 0] = '\0';
    close(fds[0]);
}

static void log_debug_with_side_effect(void)
{
    cm_log(CM_LOG_DEBUG, "value %d", side_effect());
}

static void log_error_job(void)
{
    cm_log(CM_LOG_ERROR, "job %s: open %s: %s", "j1", "/data/a \"b\".tif", "No such file");
}

Test(common_log, disabled_level_does_not_evaluate_arguments)
{
    char out[512];
    cm_log_init("zsa-test", CM_LOG_INFO, false);
    evaluated = 0;
    capture(out, sizeof(out), log_debug_with_side_effect);
    cr_assert_eq(evaluated, 0);
    cr_assert_str_eq(out, "");
    cm_log_init("zsa-test", CM_LOG_DEBUG, false);
    capture(out, sizeof(out), log_debug_with_side_effect);
    cr_assert_eq(evaluated, 1);
    cr_assert(strstr(out, "debug zsa-test["), "%s", out);
    cr_assert(strstr(out, "value 1\n"), "%s", out);
}

Test(common_log, text_line_has_timestamp_level_component_and_message)
{
    char out[512];
    cm_log_init("zsa-worker", CM_LOG_INFO, false);
    capture(out, sizeof(out), log_error_job);
    /* 2026-11-25T18:32:52.123Z error zsa-worker[123]: job j1: ... */
    cr_assert_eq(strlen(out) > 25, true);
    cr_assert_eq(out[4], '-');
    cr_assert_eq(out[10], 'T');
    cr_assert_eq(out[23], 'Z');
    cr_assert(strstr(out, " error zsa-worker["), "%s", out);
    cr_assert(strstr(out, "]: job j1: open /data/a \"b\".tif: No such file\n"), "%s", out);
}

Test(common_log, json_lines_parse_and_keep_the_message_exactly)
{
    char out[512];
    cm_log_init("zsa-worker", CM_LOG_INFO, true);
    capture(out, sizeof(out), log_error_job);
    json_object *j = json_tokener_parse(out);
    cr_assert_not_null(j, "not JSON: %s", out);
    json_object *v;
    cr_assert(json_object_object_get_ex(j, "level", &v));
    cr_assert_str_eq(json_object_get_string(v), "error");
    cr_assert(json_object_object_get_ex(j, "component", &v));
    cr_assert_str_eq(json_object_get_string(v), "zsa-worker");
    cr_assert(json_object_object_get_ex(j, "msg", &v));
    cr_assert_str_eq(json_object_get_string(v), "job j1: open /data/a \"b\".tif: No such file");
    cr_assert(json_object_object_get_ex(j, "ts", &v));
    cr_assert(json_object_object_get_ex(j, "pid", &v));
    cr_assert_eq(json_object_get_int(v), (int)getpid());
    json_object_put(j);
}

Test(common_log, level_names_come_from_the_table)
{
    cr_assert_str_eq(cm_log_level_name(CM_LOG_ERROR), "error");
    cr_assert_str_eq(cm_log_level_name(CM_LOG_DEBUG), "debug");
    cr_assert_null(cm_log_level_name(99));
}
