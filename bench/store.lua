-- wrk script: POST a call whose record is 1 KB ({"n": 1, "text": 1000 characters}).
wrk.method = "POST"
wrk.body = '{"n":1,"text":"' .. string.rep("x", 1000) .. '"}'
wrk.headers["Content-Type"] = "application/json"
