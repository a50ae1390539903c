// Prices an order's lines: the body of the `lines` code node of ../order-lines.json. It sees
// `request`, `nodes` and `execution`, and what it returns is the node's output.
const PRICES = { A1: 25.5, B7: 69.5, C3: 40 };
const cents = (n) => Math.round(n * 100) / 100;

const order = request.body;
const lines = (order.items ?? []).map((item, i) => {
  const sku = String(item.sku).toUpperCase();
  if (!(sku in PRICES)) {
    throw new Error(`line ${i + 1}: no price for ${sku}`);
  }
  const qty = Number(item.qty ?? 1);
  return { sku, qty, amount: cents(PRICES[sku] * qty) };
});
const subtotal = cents(lines.reduce((sum, line) => sum + line.amount, 0));
console.log(`priced ${lines.length} lines of ${order.id}`);

return {
  order_id: order.id,
  lines,
  subtotal,
  total_with_vat: cents(subtotal * 1.2),
  largest: lines.reduce((a, b) => (a === null || b.amount > a.amount ? b : a), null)?.sku ?? null,
};
