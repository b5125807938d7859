/* Runs a command and writes its peak resident memory (ru_maxrss, KiB) to a file.
 *
 *     peak_rss OUTFILE COMMAND [ARG ...]      exit status: the command's (128+N if killed by signal N)
 *
 * Why not os.wait4 on the command itself from the benchmark: Linux carries the resident
 * high-water mark of the image a process replaces at exec() into its ru_maxrss, so a command
 * started from a 30 MB Python process reports at least 30 MB.  Started from this small program
 * instead, the floor is this program's own few hundred KiB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUTFILE COMMAND [ARG ...]\n", argv[0]);
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("peak_rss: fork");
        return 127;
    }
    if (child == 0) {
        execvp(argv[2], argv + 2);
        perror("peak_rss: exec");
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(child, &status, 0, &usage) < 0) {
        perror("peak_rss: wait4");
        return 127;
    }
    FILE *out = fopen(argv[1], "w");
    if (out == NULL || fprintf(out, "%ld\n", usage.ru_maxrss) < 0 || fclose(out) != 0) {
        perror("peak_rss: writing the result");
        return 127;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
