/*
 * Actors: thread + mailbox, synchronous start, stop by message, exit
 * notices to a supervisor (see actor.h).
 */
#include "runtime/actor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/clock.h"
#include "runtime/log.h"

struct floe_actor {
	uint64_t id;
	floe_ctx_t *ctx;
	floe_actor_fn *fn;
	void *args;
	pthread_t thread;
	/* The PULL socket: the actor's thread while it runs, the owner after join. */
	floe_mailbox_t *mailbox;
	char endpoint[FLOE_CTX_ENDPOINT_MAX_BYTES];
	char name[FLOE_ACTOR_NAME_MAX_BYTES];
	char parent[FLOE_CTX_ENDPOINT_MAX_BYTES]; /* "" when unsupervised */
	/* Protects state and status; cond signals every state change. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	floe_actor_state_t state;
	int status;
	_Atomic bool stopping; /* destroy has begun */
	floe_clock_t *own_clock; /* when opts gave none */
	floe_timers_t *timers;   /* the actor thread's */
	floe_counters_t counters;
};

static uint64_t s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / FLOE_NS_PER_MS;
}

/*
 * Sends a control message that must not be dropped to a mailbox that may
 * be full: retries until it is queued, give_up() says stop, or deadline_ms
 * (0: none) passes. A transient sender, so an idle actor holds no fd for it.
 */
static int s_send_control(floe_actor_t *self, const char *endpoint, uint16_t code, int32_t status,
			  bool (*give_up)(floe_actor_t *), uint64_t deadline_ms)
{
	floe_mailbox_sender_t *sender = NULL;
	floe_msg_t *msg = NULL;
	int rc;

	for (;;) {
		/* EMFILE can clear as other actors close: keep trying like a full mailbox. */
		sender = floe_mailbox_sender_new(self->ctx, endpoint);
		msg = floe_msg_new_control(code, self->id, status);
		if (sender && msg)
			rc = floe_mailbox_try_send(sender, &msg);
		else
			rc = -(errno ? errno : ENOMEM);
		if (rc == 0)
			break;
		floe_msg_destroy(&msg);
		/* Only a full mailbox or a momentary lack of fds/memory is worth a retry. */
		if ((rc != -EAGAIN && rc != -EMFILE && rc != -ENFILE && rc != -ENOMEM) ||
		    give_up(self) || (deadline_ms && s_now_ms() >= deadline_ms))
			break;
		if (sender)
			rc = floe_mailbox_sender_wait_writable(sender, FLOE_ACTOR_RETRY_MS);
		else
			nanosleep(&(struct timespec){ .tv_nsec = FLOE_ACTOR_RETRY_MS * FLOE_NS_PER_MS },
				  NULL);
		floe_mailbox_sender_destroy(&sender);
	}
	floe_msg_destroy(&msg);
	floe_mailbox_sender_destroy(&sender);
	return rc;
}

static bool s_parent_stopping_us(floe_actor_t *self)
{
	return atomic_load_explicit(&self->stopping, memory_order_acquire);
}

static bool s_child_exited(floe_actor_t *self)
{
	return floe_actor_state(self) == FLOE_ACTOR_EXITED;
}

static void *s_thread(void *arg)
{
	floe_actor_t *self = arg;
	bool was_running;
	int rc;

	if (self->name[0])
		pthread_setname_np(pthread_self(), self->name);
	rc = self->fn(self, self->mailbox, self->args);

	pthread_mutex_lock(&self->lock);
	was_running = self->state == FLOE_ACTOR_RUNNING;
	self->status = rc;
	self->state = FLOE_ACTOR_EXITED;
	pthread_cond_broadcast(&self->cond);
	pthread_mutex_unlock(&self->lock);

	/*
	 * Tell the supervisor, unless it is the one stopping us (it knows) or
	 * we never started (floe_actor_new reports that). Give up if destroy
	 * begins meanwhile: it joins this thread and must not wait on a
	 * parent mailbox that nobody reads.
	 */
	if (was_running && self->parent[0] && !s_parent_stopping_us(self) &&
	    s_send_control(self, self->parent, FLOE_CONTROL_CHILD_EXITED, rc, s_parent_stopping_us,
			   s_now_ms() + FLOE_ACTOR_NOTIFY_TIMEOUT_MS) != 0 &&
	    !s_parent_stopping_us(self))
		floe_log(FLOE_LOG_WARNING, "floe::actor", "Exit notice to supervisor lost",
			 FLOE_F_U64("actor_id", self->id), FLOE_F_I64("status", rc));
	return NULL;
}

static void s_free(floe_actor_t *self)
{
	floe_mailbox_destroy(&self->mailbox);
	floe_timers_destroy(&self->timers);
	floe_clock_destroy(&self->own_clock);
	pthread_cond_destroy(&self->cond);
	pthread_mutex_destroy(&self->lock);
	free(self);
}

floe_actor_t *floe_actor_new(floe_ctx_t *ctx, floe_actor_fn *fn, void *args,
			     const floe_actor_opts_t *opts)
{
	floe_actor_opts_t none = { 0 };
	floe_actor_t *self;
	pthread_attr_t attr;
	size_t stack;
	int err;

	if (!opts)
		opts = &none;
	stack = opts->stack_bytes ? opts->stack_bytes : FLOE_ACTOR_STACK_DEFAULT_BYTES;
	if (!ctx || !fn || stack < FLOE_ACTOR_STACK_MIN_BYTES ||
	    (opts->parent_endpoint && strlen(opts->parent_endpoint) >= FLOE_CTX_ENDPOINT_MAX_BYTES)) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->id = floe_ctx_next_id(ctx);
	self->ctx = ctx;
	self->fn = fn;
	self->args = args;
	if (opts->name)
		strncpy(self->name, opts->name, sizeof(self->name) - 1);
	if (opts->parent_endpoint)
		strcpy(self->parent, opts->parent_endpoint);
	floe_counters_init(&self->counters);
	atomic_init(&self->stopping, false);
	self->state = FLOE_ACTOR_STARTING;
	pthread_mutex_init(&self->lock, NULL);
	pthread_cond_init(&self->cond, NULL);

	if (!opts->clock)
		self->own_clock = floe_clock_new_monotonic();
	self->timers = floe_timers_new(opts->clock ? opts->clock : self->own_clock,
				       FLOE_ACTOR_TIMERS_MAX);
	if (!self->timers) {
		err = ENOMEM;
		goto err_free;
	}
	/* Created here, used there: pthread_create is the full barrier libzmq asks for. */
	self->mailbox = floe_mailbox_new(ctx);
	if (!self->mailbox) {
		err = errno;
		goto err_free;
	}
	strcpy(self->endpoint, floe_mailbox_endpoint(self->mailbox));

	err = pthread_attr_init(&attr);
	if (err)
		goto err_free;
	err = pthread_attr_setstacksize(&attr, stack);
	if (!err)
		err = pthread_create(&self->thread, &attr, s_thread, self);
	pthread_attr_destroy(&attr);
	if (err)
		goto err_free;

	/* Synchronous start (STYLE rule 10): ready, or the function gave up. */
	pthread_mutex_lock(&self->lock);
	while (self->state == FLOE_ACTOR_STARTING)
		pthread_cond_wait(&self->cond, &self->lock);
	pthread_mutex_unlock(&self->lock);
	if (self->state == FLOE_ACTOR_EXITED) {
		pthread_join(self->thread, NULL);
		err = self->status < 0 ? -self->status : ECHILD;
		goto err_free;
	}
	return self;

err_free:
	s_free(self);
	errno = err;
	return NULL;
}

void floe_actor_destroy(floe_actor_t **self_p)
{
	floe_actor_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	atomic_store_explicit(&self->stopping, true, memory_order_release);
	/* Stopping is a message; an actor that already returned needs none. */
	if (!s_child_exited(self))
		/* Fails only if the actor exited meanwhile: join below either way. */
		(void)s_send_control(self, self->endpoint, FLOE_CONTROL_TERM, 0, s_child_exited, 0);
	pthread_join(self->thread, NULL);
	s_free(self);
	*self_p = NULL;
}

void floe_actor_ready(floe_actor_t *self)
{
	pthread_mutex_lock(&self->lock);
	if (self->state == FLOE_ACTOR_STARTING) {
		self->state = FLOE_ACTOR_RUNNING;
		pthread_cond_broadcast(&self->cond);
	}
	pthread_mutex_unlock(&self->lock);
}

bool floe_actor_stop_requested(floe_actor_t *self)
{
	return atomic_load_explicit(&self->stopping, memory_order_acquire);
}

uint64_t floe_actor_id(const floe_actor_t *self)
{
	return self->id;
}

const char *floe_actor_endpoint(const floe_actor_t *self)
{
	return self->endpoint;
}

floe_ctx_t *floe_actor_ctx(floe_actor_t *self)
{
	return self->ctx;
}

floe_actor_state_t floe_actor_state(floe_actor_t *self)
{
	floe_actor_state_t state;

	pthread_mutex_lock(&self->lock);
	state = self->state;
	pthread_mutex_unlock(&self->lock);
	return state;
}

int floe_actor_status(floe_actor_t *self)
{
	int status;

	pthread_mutex_lock(&self->lock);
	status = self->status;
	pthread_mutex_unlock(&self->lock);
	return status;
}

floe_timers_t *floe_actor_timers(floe_actor_t *self)
{
	return self->timers;
}

floe_counters_t *floe_actor_counters(floe_actor_t *self)
{
	return &self->counters;
}
