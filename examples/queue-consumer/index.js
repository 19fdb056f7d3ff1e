// Consumes order events queued with async invocations (`faas invoke orders '{…}' --async`).
// A thrown error fails the attempt: the queue runs it again, up to maxRetries (faas.json) more
// times, then dead-letters it. Use an idempotency key per order so a resent event runs once.
export default async function handler(order, context) {
  context.log.info(`order ${order?.id}: ${order?.items?.length ?? 0} items`);
  if (!order?.id || !Array.isArray(order.items) || order.items.length === 0)
    throw new Error(`order ${order?.id ?? '?'} has no items`);
  const total = order.items.reduce((sum, item) => sum + item.price * item.quantity, 0);
  return { id: order.id, total: Math.round(total * 100) / 100, items: order.items.length };
}
