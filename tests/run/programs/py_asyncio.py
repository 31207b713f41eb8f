# asyncio's unix server and client (the loop's self-pipe is a socketpair).
import asyncio, os, tempfile

async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(b"echo " + line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()

async def client(path, i):
    reader, writer = await asyncio.open_unix_connection(path)
    replies = []
    for k in range(5):
        writer.write(b"%d-%d\n" % (i, k))
        await writer.drain()
        replies.append((await reader.readline()).strip())
    writer.close()
    await writer.wait_closed()
    return replies

async def main():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "s")
    server = await asyncio.start_unix_server(handle, path)
    async with server:
        results = await asyncio.gather(*(client(path, i) for i in range(8)))
    for r in results:
        print(r)
    os.unlink(path)
    os.rmdir(d)

asyncio.run(main())
