// The on-screen keypads (gloved fingers, no keyboard): their keys and what a key does to what was typed.

export const LETTERS = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
export const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "⌫"];

// A pad's keys (built once); onKey's handler reads data-key.
export function fillKeypad(pad, keys) {
  if (pad.children.length) return;
  for (const key of keys) pad.appendChild(keyButton(key));
}

export function keyButton(key) {
  const b = document.createElement("button");
  b.textContent = key;
  b.dataset.key = key;
  return b;
}

// One click handler per pad: press(key) for a tap on any of its keys.
export function onKey(pad, press) {
  pad.addEventListener("click", (e) => { if (e.target.dataset.key) press(e.target.dataset.key); });
}

// A text keypad's key applied to what was typed so far (at most maxLength characters).
export function typeText(value, key, maxLength) {
  if (key === "⌫") return value.slice(0, -1);
  if (key === "Clear") return "";
  return value.length < maxLength ? value + (key === "Space" ? " " : key) : value;
}

// A number keypad's key applied to what was typed so far (no leading zeros, at most maxDigits).
export function typeNumber(value, key, maxDigits) {
  if (key === "⌫") return value.slice(0, -1);
  if (key === "Clear") return "";
  return value.length < maxDigits ? String(Number(value + key)) : value;
}
