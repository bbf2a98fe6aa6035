#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# init.sh -- PID 1 of the kernel-matrix guest: run the sampler checks, print results, power off.
#
# Every result line starts with "@@ " on the serial console, which is all the
# host reads (e2e/test_kernels.py parses them). The record run mirrors
# e2e/test_record.py: the 3:1 workload in its own cgroup v2, a busy sibling
# cgroup that must not be sampled.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup

say() { echo "@@ $*"; }
# Prefix every line of a file so the host can tell it from console noise.
tag() { while IFS= read -r l; do echo "@@ $1 $l"; done < "$2"; }
usage_us() { sed -n 's/^usage_usec //p' "$1/cpu.stat"; }

say kernel "$(uname -r)"
say cpus "$(nproc)"
[ -r /sys/kernel/btf/vmlinux ] && say btf yes || say btf no

# Verifier statistics of every program in the BPF object (the sampler's own).
/bin/verifier-stats /podprof/profile.bpf.o > /tmp/vs 2>&1
rc=$?
say verifier-rc $rc
tag verifier /tmp/vs
# Refused: what would the verifier say next with every map preallocated?
if [ $rc -ne 0 ]; then
	/bin/verifier-stats --prealloc /podprof/profile.bpf.o > /tmp/vs 2>&1
	tag verifier-prealloc /tmp/vs
fi

# As the kernel boots: Debian's kernels default to perf_event_paranoid 3
# (their own patch), under which the worker must refuse with one line.
say perf-event-paranoid "$(cat /proc/sys/kernel/perf_event_paranoid)"
/bin/podprof-worker features > /tmp/feat 2>&1
say features-rc $?
tag features /tmp/feat
# The documented setting (docs/install.md) for the record run.
echo 2 > /proc/sys/kernel/perf_event_paranoid

CG=/sys/fs/cgroup
mkdir $CG/target $CG/sibling
sh -c "echo \$\$ > $CG/target/cgroup.procs; exec /bin/ratio work" &
RATIO=$!
sh -c "echo \$\$ > $CG/sibling/cgroup.procs; renice -n 5 -p \$\$ >/dev/null; exec /bin/busy" &
BUSY=$!

/bin/podprof-worker record --cgroup $CG/target --duration 20s --frequency 499 -o /tmp/p.pb.gz \
	> /tmp/rec.out 2> /tmp/rec.err &
REC=$!
# CPU time of the target while sampling: read when the worker says it samples
# and when it says the job stopped (as the host record tests do).
start=; stop=
while kill -0 $REC 2>/dev/null; do
	if [ -z "$start" ] && grep -q 'record: sampling' /tmp/rec.err; then start=$(usage_us $CG/target); fi
	if [ -n "$start" ] && [ -z "$stop" ] && grep -q 'job record stopped' /tmp/rec.err; then stop=$(usage_us $CG/target); fi
	sleep 0.2
done
[ -n "$start" ] && [ -z "$stop" ] && stop=$(usage_us $CG/target)
wait $REC
say record-rc $?
say target-cpu-us "${start:-0}" "${stop:-0}"
kill -0 $BUSY 2>/dev/null && say sibling-running yes || say sibling-running no
say ratio-pid $RATIO

# Second, short run: a process target (events on every task) with the job's
# two flags set, kernel stacks and frame pointers only. Where the kernel has
# no BPF cookies these ride in the sample period: the kernel frames and the
# frame-pointer stacks reaching main show they arrived.
/bin/ratio-fp syscalls &
RFP=$!
/bin/podprof-worker record --pid $RFP --duration 5s --frequency 499 --kernel-stacks \
	--unwinder framepointer --top 200 -o /tmp/p2.pb.gz > /tmp/rec2.out 2> /tmp/rec2.err
say record2-rc $?
kill $RFP
say perf-max-sample-rate "$(cat /proc/sys/kernel/perf_event_max_sample_rate)"
dmesg | grep -i -e perf -e clocksource -e hrtimer > /tmp/dmesg
tag dmesg /tmp/dmesg
tag out /tmp/rec.out
tag err /tmp/rec.err
tag out2 /tmp/rec2.out
tag err2 /tmp/rec2.err
kill $RATIO $BUSY

# Off CPU (docs/worker.md): a thread sleeping 3:1 in two functions, 5 s.
mkdir $CG/waits
sh -c "echo \$\$ > $CG/waits/cgroup.procs; exec /bin/offcpu sleep 60" &
WAITS=$!
/bin/podprof-worker record --cgroup $CG/waits --offcpu --duration 5s -o /tmp/o.pb.gz \
	> /tmp/off.out 2> /tmp/off.err
say offcpu-rc $?
tag offout /tmp/off.out
tag offerr /tmp/off.err
kill $WAITS

# Throttled: a spinner under a cgroup v2 cpu.max quota of 10 % is off CPU
# while runnable. The profile goes to the host in base64 for its state labels.
if echo +cpu >$CG/cgroup.subtree_control 2>/tmp/thr.err; then
	mkdir $CG/throttled
	echo "10000 100000" >$CG/throttled/cpu.max
	sh -c "echo \$\$ > $CG/throttled/cgroup.procs; exec /bin/offcpu spin" &
	SPIN=$!
	/bin/podprof-worker record --cgroup $CG/throttled --offcpu --duration 3s -o /tmp/t.pb.gz \
		> /tmp/thr.out 2> /tmp/thr.err
	say throttle-rc $?
	base64 /tmp/t.pb.gz > /tmp/t.b64
	tag throtpb /tmp/t.b64
	kill $SPIN
else
	say throttle-rc no-cpu-controller
fi
tag throterr /tmp/thr.err
say end
poweroff -f
