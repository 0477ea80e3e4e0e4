/* Inbox: a bounded MPSC message queue with a cheap wake-up (see inbox.h). */
#include "actors/inbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct floe_inbox {
	pthread_mutex_t lock;
	floe_msg_t **ring;        /* n messages from head, cap slots */
	size_t cap, reserve, head, n;
	bool closed;
	int fd;                   /* eventfd or -1 */
	floe_inbox_wake_fn *wake;
	void *wake_arg;
	uint64_t drops;
};

floe_inbox_t *floe_inbox_new(size_t cap_msgs, size_t reserve_msgs, bool with_fd)
{
	floe_inbox_t *self;

	if (cap_msgs == 0 || reserve_msgs >= cap_msgs) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->fd = -1;
	self->cap = cap_msgs;
	self->reserve = reserve_msgs;
	/* malloc, not calloc: only the slots a burst uses become resident. */
	self->ring = malloc(cap_msgs * sizeof(*self->ring));
	if (!self->ring)
		goto err;
	if (with_fd && (self->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto err;
	if (pthread_mutex_init(&self->lock, NULL) != 0) {
		errno = ENOMEM;
		goto err;
	}
	return self;
err:
	if (self->fd >= 0)
		close(self->fd);
	free(self->ring);
	free(self);
	return NULL;
}

void floe_inbox_destroy(floe_inbox_t **self_p)
{
	floe_inbox_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	floe_inbox_close(self);
	pthread_mutex_destroy(&self->lock);
	if (self->fd >= 0)
		close(self->fd);
	free(self->ring);
	free(self);
	*self_p = NULL;
}

int floe_inbox_fd(const floe_inbox_t *self)
{
	return self ? self->fd : -1;
}

void floe_inbox_set_wake(floe_inbox_t *self, floe_inbox_wake_fn *fn, void *arg)
{
	pthread_mutex_lock(&self->lock);
	self->wake = fn;
	self->wake_arg = arg;
	pthread_mutex_unlock(&self->lock);
}

/* Under the lock: the first message into an empty inbox wakes the consumer. */
static void s_signal(floe_inbox_t *self)
{
	if (self->fd >= 0) {
		/* Fails only on counter overflow, which a pending wake-up
		 * cannot reach: the counter is cleared when the inbox empties. */
		(void)!write(self->fd, &(uint64_t){ 1 }, sizeof(uint64_t));
	}
	/* Under the lock, so close cannot let the target go meanwhile. */
	if (self->wake)
		self->wake(self->wake_arg);
}

int floe_inbox_post(floe_inbox_t *self, floe_msg_t **msg_p, bool urgent)
{
	int rc = 0;

	if (!msg_p || !*msg_p)
		return -EINVAL;
	if (!self) {
		floe_msg_destroy(msg_p);
		return -EINVAL;
	}
	pthread_mutex_lock(&self->lock);
	if (self->closed) {
		rc = -EPIPE;
	} else if (self->n >= (urgent ? self->cap : self->cap - self->reserve)) {
		self->drops++;
		rc = -EAGAIN;
	} else {
		self->ring[(self->head + self->n) % self->cap] = *msg_p;
		*msg_p = NULL;
		/* Only the first needs a wake-up: the consumer takes until empty. */
		if (self->n++ == 0)
			s_signal(self);
	}
	pthread_mutex_unlock(&self->lock);
	floe_msg_destroy(msg_p);
	return rc;
}

int floe_inbox_take(floe_inbox_t *self, floe_msg_t **out, int cap)
{
	int n = 0;

	if (!self || !out)
		return 0;
	pthread_mutex_lock(&self->lock);
	while (n < cap && self->n > 0) {
		out[n++] = self->ring[self->head];
		self->head = (self->head + 1) % self->cap;
		self->n--;
	}
	/* Empty: start again at slot 0, so that only the slots the largest
	 * burst used are ever resident (a head that walked on round the ring
	 * would touch all of them in time: 512 KiB for the node's). */
	if (self->n == 0)
		self->head = 0;
	if (n > 0 && self->n == 0 && self->fd >= 0) {
		uint64_t v;

		/* Emptied: the fd stops polling readable until the next post. */
		(void)!read(self->fd, &v, sizeof(v));
	}
	pthread_mutex_unlock(&self->lock);
	return n;
}

bool floe_inbox_pending(floe_inbox_t *self)
{
	bool pending;

	if (!self)
		return false;
	pthread_mutex_lock(&self->lock);
	pending = self->n > 0;
	pthread_mutex_unlock(&self->lock);
	return pending;
}

void floe_inbox_close(floe_inbox_t *self)
{
	enum { CHUNK = 64 };
	floe_msg_t *left[CHUNK];
	int n;

	if (!self)
		return;
	pthread_mutex_lock(&self->lock);
	self->closed = true;
	self->wake = NULL;
	self->wake_arg = NULL;
	pthread_mutex_unlock(&self->lock);
	/* Freed outside the lock: a pooled buffer's free may take its own. */
	while ((n = floe_inbox_take(self, left, CHUNK)) > 0)
		for (int i = 0; i < n; i++)
			floe_msg_destroy(&left[i]);
}

uint64_t floe_inbox_drops(floe_inbox_t *self)
{
	uint64_t d;

	if (!self)
		return 0;
	pthread_mutex_lock(&self->lock);
	d = self->drops;
	pthread_mutex_unlock(&self->lock);
	return d;
}
