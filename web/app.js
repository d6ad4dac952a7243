// app.js - the landing page (GET /app): "New room" creates a room and
// goes to its join link. With auth on, the token comes from the URL
// fragment (#token=…), which a browser never sends to a server, and is
// passed on in the join link's fragment.
import { createRoom, tokenFromFragment } from "/switchboard.js";

const token = tokenFromFragment();
const button = document.getElementById("new-room");
const alert = document.getElementById("alert");

button.addEventListener("click", async () => {
  button.disabled = true;
  alert.hidden = true;
  try {
    const room = await createRoom({ token });
    location.assign(room.join_link + (token ? `#token=${encodeURIComponent(token)}` : ""));
  } catch (err) {
    alert.textContent = `Could not create a room: ${err.message}`;
    alert.hidden = false;
    button.disabled = false;
  }
});
